package org.xraydl.train;

import org.deeplearning4j.datasets.iterator.EarlyTerminationDataSetIterator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.deeplearning4j.parallelism.ParallelWrapper;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.UserError;
import org.xraydl.config.RunConfig;
import org.xraydl.data.ImageFolder;
import org.xraydl.data.ImageFolderScanner;
import org.xraydl.data.ImageIterators;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.PatientSplit;
import org.xraydl.data.Preprocessing;
import org.xraydl.evaluate.Metrics;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.evaluate.Predictions;
import org.xraydl.kernels.HelperReport;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.model.ModelFactory;
import org.xraydl.model.Optimization;
import org.xraydl.report.Charts;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;

import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * The training engine's driver: data scan and patient split, model, run directory, then the
 * epoch loop (fit on the chosen back-end, validate, history, best/last checkpoints, early
 * stopping) and the final validation metrics of the best model.
 */
public final class Trainer {
    private static final Logger log = LoggerFactory.getLogger(Trainer.class);
    public static final String POSITIVE = "PNEUMONIA";

    /**
     * @param showProgress   draw a progress bar per epoch
     * @param listeners      extra DL4J listeners (UI stats, ...) attached to the network or its workers
     * @param epochObservers called after each epoch's record is written (charts, notebooks, tests)
     * @param resume         a run's last.zip to continue from, or null
     */
    public record Options(boolean showProgress, List<TrainingListener> listeners,
                          List<Consumer<EpochRecord>> epochObservers, Path resume) {
        public static Options quiet() {
            return new Options(false, List.of(), List.of(), null);
        }
    }

    public record Result(RunDirectory runDirectory, Metrics validation, Predictions validationPredictions,
                         List<EpochRecord> history, int bestEpoch, ImageFolder data) {
    }

    private Trainer() {
    }

    public static Result train(RunConfig c, Options o) {
        // Engine problems (--engine spark without -Pspark, an unreachable Spark master) fail here, before a
        // run folder exists; engine constructors only validate, resources are taken in start().
        TrainingEngine engine = engine(c);
        ImageFolder folder = ImageFolderScanner.scan(Path.of(c.data()), "train", c.skipBad(), c.maxImagesPerClass());
        if (folder.labels().size() != 2) {
            throw new UserError("expected two classes (e.g. NORMAL and PNEUMONIA) under " + folder.root() + ", found " + folder.labels());
        }
        PatientSplit.Split split = PatientSplit.split(folder.images(), c.valFraction(), c.seed());
        if (ImageFolder.countPerLabel(split.validation()).size() < 2 || ImageFolder.countPerLabel(split.train()).size() < 2) {
            throw new UserError("data folder " + folder.root() + " is too small for a patient-grouped split with both classes on both sides: "
                    + "add images (at least two patients per class) or raise valFraction");
        }
        List<String> labels = folder.labels();
        Preprocessing pre = Preprocessing.of(c, labels);

        RunDirectory dir;
        ComputationGraph net;
        List<EpochRecord> history = new ArrayList<>();
        Map<String, Object> provenance = provenance(c, folder, split);
        if (o.resume() != null) {
            ModelBundle resumed = ModelBundle.load(o.resume());
            if (!resumed.preprocessing().labels().equals(labels)) {
                throw new UserError("--resume " + o.resume() + " was trained on labels " + resumed.preprocessing().labels() + ", the data has " + labels);
            }
            net = resumed.network();
            ModelFactory.reschedule(net, c, Optimization.iterationsPerEpoch(c, split.train().size())); // --epochs may have grown
            dir = RunDirectory.existing(o.resume().toAbsolutePath().getParent());
            history.addAll(dir.readHistory());
            log.info("resuming {} after epoch {}", dir.path(), history.size());
        } else {
            net = ModelFactory.create(c, labels.size(), classWeights(c, split.train(), labels),
                    Optimization.iterationsPerEpoch(c, split.train().size()));
            dir = RunDirectory.create(c);
            dir.writeConfig(c);
            dir.writeLabels(labels);
            dir.writeSplit(split.train(), split.validation(), folder.skipped());
            dir.startHistory();
        }
        System.out.printf(Locale.ROOT, "run %s: model %s (%s params, %s trainable), %d train / %d validation images (%d / %d patients), %d skipped as unreadable%n",
                dir.path(), c.model(), net.numParams(), trainableParams(net), split.train().size(), split.validation().size(),
                patients(split.train()), patients(split.validation()), folder.skipped().size());

        for (Object hook : hooks(o)) {
            if (hook instanceof RunDirectoryAware aware) {
                aware.runDirectoryReady(dir);
            }
        }

        LossMeter lossMeter = new LossMeter();
        List<TrainingListener> listeners = new ArrayList<>(o.listeners());
        listeners.add(lossMeter);
        Supplier<DataSetIterator> validation = () -> ImageIterators.evaluation(split.validation(), pre, c.batchSize());

        int bestEpoch = 0;
        double bestAuc = Double.NEGATIVE_INFINITY;
        double bestLoss = Double.POSITIVE_INFINITY;
        for (EpochRecord r : history) {
            if (better(r.valAuc(), r.valLoss(), bestAuc, bestLoss)) {
                bestAuc = r.valAuc();
                bestLoss = r.valLoss();
                bestEpoch = r.epoch();
            }
        }
        Predictions bestPredictions = null;
        long runStart = System.nanoTime();
        try (engine) {
            engine.start(net, listeners);
            provenance.put("engine", engine.name());
            provenance.put("layerImplementations", HelperReport.summary(net)); // which fast paths this run used
            final int firstEpoch = history.size() + 1;
            for (int epoch = firstEpoch; epoch <= c.epochs(); epoch++) {
                final int e = epoch;
                ProgressIterator[] progress = new ProgressIterator[1];
                Supplier<DataSetIterator> trainIt = () -> {
                    DataSetIterator it = ImageIterators.training(split.train(), pre, c, c.seed() + e);
                    if (c.maxBatchesPerEpoch() > 0) {
                        it = new EarlyTerminationDataSetIterator(it, c.maxBatchesPerEpoch());
                    }
                    long expected = c.maxBatchesPerEpoch() > 0
                            ? Math.min(split.train().size(), (long) c.maxBatchesPerEpoch() * c.batchSize()) : split.train().size();
                    progress[0] = new ProgressIterator(it, expected, String.format(Locale.ROOT, "epoch %d/%d", e, c.epochs()), o.showProgress());
                    return progress[0];
                };
                long t0 = System.nanoTime();
                long images = engine.fitEpoch(net, new EpochData(epoch, split.train(), pre, c, trainIt));
                double seconds = (System.nanoTime() - t0) / 1e9;
                if (progress[0] != null) {
                    progress[0].finish();
                }
                double trainLoss = lossMeter.meanAndReset();
                Predictions val = engine.validate(net, validation, labels);
                Metrics m = MetricsCalculator.compute(val, POSITIVE);
                EpochRecord r = new EpochRecord(epoch, trainLoss, m.loss(), m.accuracy(), m.auc(), m.sensitivity(),
                        m.specificity(), seconds, images / Math.max(seconds, 1e-9));
                history.add(r);
                dir.appendHistory(r);
                provenance.put("epochsCompleted", epoch);
                boolean improved = better(m.auc(), m.loss(), bestAuc, bestLoss);
                if (improved) {
                    bestAuc = m.auc();
                    bestLoss = m.loss();
                    bestEpoch = epoch;
                    bestPredictions = val;
                    provenance.put("bestEpoch", epoch);
                    new ModelBundle(net, pre, c, provenance).save(dir.resolve(RunDirectory.BEST), false);
                }
                new ModelBundle(net, pre, c, provenance).save(dir.resolve(RunDirectory.LAST), true);
                Charts.writeEpoch(dir.path(), history, improved ? val : null, POSITIVE);
                System.out.printf(Locale.ROOT, "epoch %d/%d: train loss %.4f, val loss %.4f, val acc %.4f, val AUC %.4f, %.1f s, %.1f img/s%s%n",
                        epoch, c.epochs(), trainLoss, m.loss(), m.accuracy(), m.auc(), seconds, r.imagesPerSecond(), improved ? " (best)" : "");
                for (Consumer<EpochRecord> obs : o.epochObservers()) {
                    obs.accept(r);
                }
                if (c.earlyStoppingPatience() > 0 && epoch - bestEpoch >= c.earlyStoppingPatience()) {
                    System.out.printf(Locale.ROOT, "early stop: no better validation AUC for %d epochs%n", c.earlyStoppingPatience());
                    break;
                }
                double elapsedMin = (System.nanoTime() - runStart) / 60e9;
                double lastEpochMin = elapsedMin / (epoch - firstEpoch + 1);
                if (c.timeBudgetMinutes() > 0 && epoch < c.epochs() && elapsedMin + lastEpochMin > c.timeBudgetMinutes()) {
                    System.out.printf(Locale.ROOT, "time budget: stopping after epoch %d of %d (%.1f min used, an epoch takes %.1f, budget %.0f min)%n",
                            epoch, c.epochs(), elapsedMin, lastEpochMin, c.timeBudgetMinutes());
                    provenance.put("stoppedByTimeBudget", true);
                    break;
                }
            }
        }
        if (bestPredictions == null) {
            // Resumed run whose best epoch was before the resume: score the saved best model again.
            ModelBundle best = ModelBundle.load(dir.resolve(RunDirectory.BEST));
            bestPredictions = org.xraydl.evaluate.Evaluator.predict(best.network(), validation.get(), labels);
        }
        Metrics finalMetrics = MetricsCalculator.compute(bestPredictions, POSITIVE);
        Map<String, Object> extra = new LinkedHashMap<>();
        extra.put("split", "validation");
        extra.put("best_epoch", bestEpoch);
        extra.put("skipped_unreadable", folder.skipped().size());
        dir.writeMetrics(finalMetrics, extra);
        dir.writePredictions(bestPredictions);
        dir.writeJson(RunDirectory.PROVENANCE, provenance);
        Charts.writeAllQuietly(dir.path());
        return new Result(dir, finalMetrics, bestPredictions, List.copyOf(history), bestEpoch, folder);
    }

    private static List<Object> hooks(Options o) {
        List<Object> all = new ArrayList<>(o.listeners());
        all.addAll(o.epochObservers());
        return all;
    }

    /** Higher AUC wins; on a tie (or NaN AUC) the lower validation loss. */
    static boolean better(double auc, double loss, double bestAuc, double bestLoss) {
        double a = Double.isNaN(auc) ? Double.NEGATIVE_INFINITY : auc;
        if (a > bestAuc) {
            return true;
        }
        return a == bestAuc && loss < bestLoss;
    }

    public static TrainingEngine engine(RunConfig c) {
        if ("spark".equals(c.engine())) {
            try {
                Class<?> k = Class.forName("org.xraydl.spark.SparkEngine");
                return (TrainingEngine) k.getConstructor(RunConfig.class).newInstance(c);
            } catch (ClassNotFoundException | LinkageError e) {
                // LinkageError: org.xraydl.spark classes left in target/classes by an earlier -Pspark build, without Spark.
                throw new UserError("--engine spark needs the Spark build: run Maven with -Pspark (e.g. mvn -Pspark compile exec:java@train ...)");
            } catch (ReflectiveOperationException e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                if (cause instanceof UserError u) {
                    throw u;
                }
                throw new UserError("cannot start the Spark engine: " + cause);
            }
        }
        if (c.featurize()) {
            if (!c.trunkFrozen() || c.augment()) {
                throw new UserError("--featurize needs a frozen trunk and no augmentation (set augment: false, and weights other than none or freezeTrunk: true)");
            }
            return new FeaturizedEngine();
        }
        if (c.workers() > 1) {
            return new ParallelWrapperEngine(c.workers(), ParallelWrapper.TrainingMode.AVERAGING);
        }
        return new LocalEngine();
    }

    /** "balanced": N / (K * n_k) from the training split, so each class carries the same total weight. */
    static double[] classWeights(RunConfig c, List<LabeledImage> train, List<String> labels) {
        if (!"balanced".equals(c.classWeights())) {
            return null;
        }
        Map<String, Integer> counts = ImageFolder.countPerLabel(train);
        double[] w = new double[labels.size()];
        for (int k = 0; k < labels.size(); k++) {
            w[k] = train.size() / (double) (labels.size() * Math.max(1, counts.getOrDefault(labels.get(k), 0)));
        }
        return w;
    }

    static long imagesSeen(DataSetIterator it) {
        return it instanceof ProgressIterator p ? p.images() : -1;
    }

    private static long trainableParams(ComputationGraph net) {
        long n = 0;
        for (var l : net.getLayers()) {
            if (!(l instanceof org.deeplearning4j.nn.layers.FrozenLayer)
                    && !(l instanceof org.deeplearning4j.nn.layers.FrozenLayerWithBackprop)) {
                n += l.numParams();
            }
        }
        return n;
    }

    private static long patients(List<LabeledImage> images) {
        return images.stream().map(LabeledImage::patientId).distinct().count();
    }

    private static Map<String, Object> provenance(RunConfig c, ImageFolder folder, PatientSplit.Split split) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("created", Instant.now().toString());
        p.put("dl4j", "1.0.0-M2.1");
        p.put("backend", Nd4j.getBackend().getClass().getSimpleName());
        p.put("java", System.getProperty("java.version"));
        p.put("os", System.getProperty("os.name") + " " + System.getProperty("os.arch"));
        p.put("cores", Runtime.getRuntime().availableProcessors());
        p.put("gitCommit", gitCommit());
        p.put("dataRoot", folder.root().toString());
        p.put("trainCounts", ImageFolder.countPerLabel(split.train()));
        p.put("validationCounts", ImageFolder.countPerLabel(split.validation()));
        p.put("skippedUnreadable", folder.skipped().size());
        p.put("seed", c.seed());
        return p;
    }

    private static String gitCommit() {
        try {
            Process pr = new ProcessBuilder("git", "rev-parse", "HEAD").redirectErrorStream(true).start();
            String out = new String(pr.getInputStream().readAllBytes()).trim();
            return pr.waitFor() == 0 ? out : "unknown";
        } catch (Exception e) {
            return "unknown";
        }
    }
}
