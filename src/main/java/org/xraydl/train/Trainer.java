package org.xraydl.train;

import org.deeplearning4j.datasets.iterator.EarlyTerminationDataSetIterator;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.xraydl.UserError;
import org.xraydl.Versions;
import org.xraydl.config.RunConfig;
import org.xraydl.data.ClassLabels;
import org.xraydl.data.DecodePool;
import org.xraydl.data.ImageFolder;
import org.xraydl.data.ImageFolderScanner;
import org.xraydl.data.ImageIterators;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.PatientSplit;
import org.xraydl.data.LoaderThread;
import org.xraydl.data.Preprocessing;
import org.xraydl.data.TestTimeAugmentation;
import org.xraydl.evaluate.Evaluator;
import org.xraydl.evaluate.Metrics;
import org.xraydl.evaluate.MetricsCalculator;
import org.xraydl.evaluate.OperatingPoint;
import org.xraydl.evaluate.Predictions;
import org.xraydl.kernels.HelperReport;
import org.xraydl.model.io.DecisionRule;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.model.io.TrainableParameters;
import org.xraydl.model.ModelFactory;
import org.xraydl.model.Optimization;
import org.xraydl.report.Charts;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;
import org.xraydl.run.RunRecovery;

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
 * The training driver, in the order {@link #train} runs its steps: prepare the data (scan, patient
 * split, preprocessing), build or resume (network and run folder), the epoch loop (each epoch: fit
 * on the chosen engine, validate, record, checkpoint, charts, stop rules), and finish (score the best
 * model, write metrics, predictions, provenance and charts).
 */
public final class Trainer {
    private static final Logger log = LoggerFactory.getLogger(Trainer.class);
    /** Training batches the background loader decodes ahead of fit(). */
    static final int PREFETCH_BATCHES = 4;

    /**
     * @param showProgress   draw a progress bar per epoch
     * @param listeners      extra DL4J listeners (UI stats, ...) attached to the network or its workers
     * @param epochObservers called after each epoch's record is written (charts, notebooks, tests)
     * @param resume         a run's last.zip to continue from, or null
     * @param split          a run's split.csv whose train/validation partition to use instead of splitting, or null
     */
    public record Options(boolean showProgress, List<TrainingListener> listeners,
                          List<Consumer<EpochRecord>> epochObservers, Path resume, Path split) {
        public Options(boolean showProgress, List<TrainingListener> listeners,
                       List<Consumer<EpochRecord>> epochObservers, Path resume) {
            this(showProgress, listeners, epochObservers, resume, null);
        }

        public static Options quiet() {
            return new Options(false, List.of(), List.of(), null);
        }
    }

    public record Result(RunDirectory runDirectory, Metrics validation, Predictions validationPredictions,
                         List<EpochRecord> history, int bestEpoch, ImageFolder data) {
    }

    private Trainer() {
    }

    /** Test seam: runs after an epoch's last.zip is saved, before its best.zip and history row (a kill there). */
    static volatile Consumer<EpochRecord> afterLastZip = r -> { };

    public static Result train(RunConfig c, Options o) {
        refuseBeforeStart(c, o.resume());
        // Engine problems (--engine spark without -Pspark, an unreachable Spark master) fail here, before a
        // run folder exists; engine constructors only validate, resources are taken in start().
        TrainingEngine engine = engine(c);
        // --resume locks the run folder and repairs what a kill left there before anything is read from it.
        Resumption resumed = o.resume() == null ? null : Resumption.open(o.resume(), c, System.out);
        RunState run = null;
        DecodePool decode = null;
        try {
            // The threads that decode the run's batches (training, validation, the TTA pass): made once, closed however the run ends.
            decode = DecodePool.of(c.decodeThreads());
            PreparedData data = resumed != null ? prepared(c, resumed.folder(), resumed.split(), decode) : prepareData(c, o.split(), decode);
            run = buildOrResume(c, resumed, data);
            announce(c, data, run);
            runDirectoryReady(o, run.dir);
            try (engine) {
                epochLoop(c, o, engine, data, run);
            }
            return finish(c, data, run);
        } finally {
            if (decode != null) {
                decode.close();
            }
            // The run folder's lock is held for the whole training, however it ends.
            if (run != null) {
                run.dir.close();
            } else if (resumed != null) {
                resumed.dir().close();
            }
        }
    }

    /** Scan (every image checked), the two classes, the patient-grouped split and the preprocessing. */
    private static PreparedData prepareData(RunConfig c, Path splitFile, DecodePool decode) {
        ImageFolder folder = ImageFolderScanner.scan(Path.of(c.data()), "train", c.skipBad(), c.maxImagesPerClass());
        return prepared(c, folder, splitFile != null ? RunDirectory.readSplit(splitFile)
                : PatientSplit.split(folder.images(), c.valFraction(), c.seed()), decode);
    }

    /** The checks and preprocessing shared by a new run and a resumed one (whose images and split come from split.csv). */
    private static PreparedData prepared(RunConfig c, ImageFolder folder, PatientSplit.Split split, DecodePool decode) {
        ClassLabels.requireBinary(folder.labels(), folder.root());
        if (ImageFolder.countPerLabel(split.validation()).size() < 2 || ImageFolder.countPerLabel(split.train()).size() < 2) {
            throw new UserError("data folder " + folder.root() + " is too small for a patient-grouped split with both classes on both sides: "
                    + "add images (at least two patients per class) or raise valFraction");
        }
        Preprocessing pre = Preprocessing.of(c, folder.labels());
        return new PreparedData(folder, split, pre, () -> ImageIterators.evaluation(split.validation(), pre, c.evaluationBatchSize(), decode),
                decode);
    }

    /** A new run, or the run of {@code resume} (its last.zip) continued. */
    private static RunState buildOrResume(RunConfig c, Resumption resumed, PreparedData data) {
        Map<String, Object> provenance = provenance(c, data);
        return resumed != null ? resumeRun(c, resumed, data, provenance) : startRun(c, data, provenance);
    }

    /** A new network and run folder: config, labels, split and an empty history written before the first epoch. */
    private static RunState startRun(RunConfig c, PreparedData data, Map<String, Object> provenance) {
        ComputationGraph net = ModelFactory.create(c, data.labels().size(), classWeights(c, data.split().train(), data.labels()),
                Optimization.iterationsPerEpoch(c, data.split().train().size()));
        WeightAverage average = c.emaDecay() > 0 ? WeightAverage.startingAt(c.emaDecay(), net) : null; // the initial (trainable) weights
        RunDirectory dir = RunDirectory.create(c); // locked until train() returns
        try {
            dir.writeConfig(c);
            dir.writeLabels(data.labels());
            dir.writeSplit(data.split().train(), data.split().validation(), data.folder().skipped());
            dir.startHistory();
        } catch (RuntimeException e) {
            dir.close();
            throw e;
        }
        return new RunState(dir, net, List.of(), provenance, average);
    }

    /** The network of the resumed last.zip (its learning-rate schedule stretched to the current --epochs), its run folder and history. */
    private static RunState resumeRun(RunConfig c, Resumption resumed, PreparedData data, Map<String, Object> provenance) {
        ComputationGraph net = resumed.checkpoint().network();
        ModelFactory.reschedule(net, c, Optimization.iterationsPerEpoch(c, data.split().train().size())); // --epochs may have grown
        // The average goes on from last.zip's (Resumption checked it is there when emaDecay > 0).
        WeightAverage average = c.emaDecay() > 0 ? WeightAverage.restored(c.emaDecay(), resumed.checkpoint().weightAverage(), net) : null;
        RunState run = new RunState(resumed.dir(), net, resumed.history(), provenance, average);
        log.info("resuming {} after epoch {}", run.dir.path(), run.history.size());
        return run;
    }

    private static void announce(RunConfig c, PreparedData data, RunState run) {
        PatientSplit.Split split = data.split();
        System.out.printf(Locale.ROOT, "run %s: model %s (%s params, %s trainable), %d train / %d validation images (%d / %d patients), %d skipped as unreadable%n",
                run.dir.path(), c.model(), run.net.numParams(), trainableParams(run.net), split.train().size(), split.validation().size(),
                patients(split.train()), patients(split.validation()), data.folder().skipped().size());
        if (run.average != null) {
            System.out.printf(Locale.ROOT, "weight average: emaDecay %s; validation, the best epoch and %s use the averaged weights, "
                    + "%s keeps the raw ones (and the average) for --resume%n", c.emaDecay(), RunDirectory.BEST, RunDirectory.LAST);
        }
    }

    /** Tells the listeners and observers that need it where the run folder is. */
    private static void runDirectoryReady(Options o, RunDirectory dir) {
        for (Object hook : hooks(o)) {
            if (hook instanceof RunDirectoryAware aware) {
                aware.runDirectoryReady(dir);
            }
        }
    }

    /** Starts the engine, then runs epochs up to {@code c.epochs()} unless a stop rule ends the run earlier. */
    private static void epochLoop(RunConfig c, Options o, TrainingEngine engine, PreparedData data, RunState run) {
        LossMeter lossMeter = new LossMeter();
        List<TrainingListener> listeners = new ArrayList<>(o.listeners());
        listeners.add(lossMeter);
        if (run.average != null) {
            listeners.add(run.average); // the local engine only (refuseWeightAverage): it sees the run's own network
        }
        if (engine.runsListenersInPlace()) {
            listeners.replaceAll(l -> new TimedListener(l, run.stages));
        }
        run.start = System.nanoTime();
        engine.start(run.net, listeners);
        run.provenance.put("engine", engine.name());
        run.provenance.put("layerImplementations", HelperReport.summary(run.net)); // which fast paths this run used
        run.provenance.put("loaderThreads", c.loaderThreads());
        run.provenance.put("decodeThreads", data.decode().threads());
        run.provenance.put("evalBatchSize", c.evaluationBatchSize());
        run.provenance.put("emaDecay", c.emaDecay()); // > 0: validation, best epoch and best.zip are the averaged weights
        final int firstEpoch = run.history.size() + 1;
        // One loader thread for the whole run, closed however the run ends (a thread per epoch grew RSS: LoaderThread).
        try (LoaderThread loader = c.loaderThreads() > 0 ? new LoaderThread() : null) {
            for (int epoch = firstEpoch; epoch <= c.epochs(); epoch++) {
                runEpoch(c, o, engine, data, run, lossMeter, epoch, loader);
                if (stopAfter(c, data, run, epoch, firstEpoch)) {
                    break;
                }
            }
        }
    }

    /** One epoch: fit, validate, record, checkpoint, charts, then tell the observers. */
    private static void runEpoch(RunConfig c, Options o, TrainingEngine engine, PreparedData data, RunState run,
                                 LossMeter lossMeter, int epoch, LoaderThread loader) {
        long t0 = System.nanoTime();
        StageTimes stages = run.stages;
        stages.reset();
        Fit fit = fit(c, o, engine, data, run.net, lossMeter, epoch, stages, loader);
        long v0 = System.nanoTime();
        // With emaDecay, the averaged weights are validated (so they choose the best epoch), then the raw ones train on.
        Predictions val = run.average == null ? engine.validate(run.net, data.validation(), data.labels())
                : run.average.withAverageIn(run.net, () -> engine.validate(run.net, data.validation(), data.labels()));
        long validationNanos = System.nanoTime() - v0;
        stages.add(StageTimes.Stage.VALIDATION, validationNanos);
        run.validationPassTook(validationNanos / 1e9);
        Metrics m = MetricsCalculator.compute(val, ClassLabels.POSITIVE);
        EpochRecord r = new EpochRecord(epoch, fit.trainLoss(), m.loss(), m.accuracy(), m.auc(), m.sensitivity(),
                m.specificity(), fit.seconds(), fit.imagesPerSecond());
        run.history.add(r);
        boolean improved = run.offerBest(epoch, m, val);
        run.rssMbAfterEpoch.add(EpochMemory.settle());
        run.provenance.put("rssMbAfterEpoch", run.rssMbAfterEpoch);
        run.threadsStartedAfterEpoch.add(EpochMemory.threadsStarted());
        run.provenance.put("threadsStartedAfterEpoch", run.threadsStartedAfterEpoch);
        stages.time(StageTimes.Stage.CHECKPOINT, () -> checkpoint(c, data, run, r, improved));
        run.dir.appendHistory(r); // after the checkpoints: last.zip, not history.csv, is the truth on resume (RunRecovery)
        stages.time(StageTimes.Stage.CHARTS, () -> Charts.writeEpoch(run.dir.path(), run.history, improved ? val : null));
        run.dir.appendCsvRow(StageTimes.CSV, StageTimes.CSV_HEADER, stages.csvRow(epoch, (System.nanoTime() - t0) / 1e9));
        System.out.printf(Locale.ROOT, "epoch %d/%d: train loss %.4f, val loss %.4f, val acc %.4f, val AUC %.4f, %.1f s, %.1f img/s%s%n",
                epoch, c.epochs(), fit.trainLoss(), m.loss(), m.accuracy(), m.auc(), fit.seconds(), r.imagesPerSecond(), improved ? " (best)" : "");
        System.out.println("  " + stages.oneLine());
        for (Consumer<EpochRecord> obs : o.epochObservers()) {
            obs.accept(r);
        }
    }

    /**
     * One pass over the training split (augmented with a per-epoch seed, capped by maxBatchesPerEpoch),
     * read ahead on {@code loader} when there is one (loaderThreads 1), else on the training thread; either
     * way each batch's images are decoded on the run's {@link DecodePool} (decodeThreads), the same batches.
     */
    private static Fit fit(RunConfig c, Options o, TrainingEngine engine, PreparedData data, ComputationGraph net,
                           LossMeter lossMeter, int epoch, StageTimes stages, LoaderThread loader) {
        List<LabeledImage> train = data.split().train();
        ProgressIterator[] progress = new ProgressIterator[1];
        Supplier<DataSetIterator> trainIt = () -> {
            DataSetIterator it = ImageIterators.training(train, data.pre(), c, c.seed() + epoch, data.decode());
            if (c.maxBatchesPerEpoch() > 0) {
                it = new EarlyTerminationDataSetIterator(it, c.maxBatchesPerEpoch());
            }
            if (loader != null) {
                it = loader.prefetch(it, PREFETCH_BATCHES); // after the cap: no decoding past it
            }
            long expected = c.maxBatchesPerEpoch() > 0
                    ? Math.min(train.size(), (long) c.maxBatchesPerEpoch() * c.batchSize()) : train.size();
            progress[0] = new ProgressIterator(it, expected, String.format(Locale.ROOT, "epoch %d/%d", epoch, c.epochs()), o.showProgress(), stages);
            return progress[0];
        };
        long t0 = System.nanoTime();
        long images;
        try {
            images = engine.fitEpoch(net, new EpochData(epoch, train, data.pre(), c, trainIt));
        } finally {
            if (progress[0] != null) {
                progress[0].finish(); // also stops the epoch's pass on the loader thread if fit failed
            }
        }
        long fitNanos = System.nanoTime() - t0;
        double seconds = fitNanos / 1e9;
        stages.fitCall(fitNanos);
        return new Fit(images, seconds, lossMeter.meanAndReset());
    }

    /**
     * last.zip (with the updater, for --resume) first, with the epoch count, the best epoch and this epoch's
     * history row in its provenance; then best.zip (inference only) when this epoch is the best so far.
     * With emaDecay, last.zip holds the raw weights and the average as an extra entry, best.zip the averaged weights.
     */
    private static void checkpoint(RunConfig c, PreparedData data, RunState run, EpochRecord r, boolean improved) {
        run.provenance.put(RunRecovery.EPOCHS_COMPLETED, r.epoch());
        run.provenance.put(RunRecovery.BEST_EPOCH, run.bestEpoch);
        run.provenance.put(RunRecovery.EPOCH_RECORD, r.csv());
        new ModelBundle(run.net, data.pre(), c, run.provenance, null, run.average == null ? null : run.average.average())
                .save(run.dir.resolve(RunDirectory.LAST), true);
        afterLastZip.accept(r);
        if (improved) {
            WeightAverage.saveWith(new ModelBundle(run.net, data.pre(), c, run.provenance),
                    run.average == null ? null : run.average.average(), run.dir.resolve(RunDirectory.BEST));
        }
    }

    /**
     * The stop rules after an epoch: early stopping (no better validation AUC for {@code earlyStoppingPatience}
     * epochs) and the time budget (start no epoch that would end after it, an epoch taking the mean time of
     * this process's epochs so far, engine start included, with the estimated TTA operating-point pass
     * ({@link #ttaEstimateSeconds}) kept for after the last epoch).
     */
    private static boolean stopAfter(RunConfig c, PreparedData data, RunState run, int epoch, int firstEpoch) {
        if (c.earlyStoppingPatience() > 0 && epoch - run.bestEpoch >= c.earlyStoppingPatience()) {
            System.out.printf(Locale.ROOT, "early stop: no better validation AUC for %d epochs%n", c.earlyStoppingPatience());
            return true;
        }
        double elapsedMin = (System.nanoTime() - run.start) / 60e9;
        double meanEpochMin = elapsedMin / (epoch - firstEpoch + 1);
        double reserveMin = ttaEstimateSeconds(c, data, run) / 60;
        if (c.timeBudgetMinutes() > 0 && epoch < c.epochs()
                && !TimeBudget.anotherEpochFits(c.timeBudgetMinutes(), elapsedMin, meanEpochMin, reserveMin)) {
            System.out.printf(Locale.ROOT, "time budget: stopping after epoch %d of %d (%.1f min used, an epoch takes %.1f on average%s, budget %.0f min)%n",
                    epoch, c.epochs(), elapsedMin, meanEpochMin,
                    reserveMin > 0 ? String.format(Locale.ROOT, ", %.1f min kept for the TTA operating-point pass", reserveMin) : "",
                    c.timeBudgetMinutes());
            run.provenance.put("stoppedByTimeBudget", true);
            run.provenance.put("timeBudgetReservedForTtaSeconds", reserveMin * 60);
            return true;
        }
        return false;
    }

    /**
     * What the end-of-run TTA operating-point pass should cost: one validation pass per view, a pass taking as long
     * as the longest validation pass of this process (the featurized engine's first one computes the trunk, the
     * later ones reuse it). 0 when the pass is off ({@code ttaOperatingPoint: false}).
     */
    static double ttaEstimateSeconds(RunConfig c, PreparedData data, RunState run) {
        return c.ttaOperatingPoint() ? TestTimeAugmentation.views(data.pre()).size() * run.longestValidationSeconds : 0;
    }

    /**
     * Scores the best model on the validation split, plain and averaged over the test-time augmentation views,
     * chooses the operating point on each and writes metrics, predictions, provenance and charts.
     */
    private static Result finish(RunConfig c, PreparedData data, RunState run) {
        Path bestZip = run.dir.resolve(RunDirectory.BEST);
        // The saved best model: the network in memory is the last epoch's, which need not be the best one.
        ModelBundle best = ModelBundle.load(bestZip);
        Predictions bestPredictions = run.bestPredictions;
        if (bestPredictions == null) {
            // Resumed run whose best epoch was before the resume: score the saved best model again.
            long v0 = System.nanoTime();
            bestPredictions = Evaluator.predict(best.network(), data.validation().get(), data.labels());
            run.validationPassTook((System.nanoTime() - v0) / 1e9);
        }
        List<Supplier<DataSetIterator>> views = ImageIterators.evaluationViews(data.split().validation(), data.pre(),
                c.evaluationBatchSize(), true, data.decode());
        Map<String, Object> ttaRecord = new LinkedHashMap<>();
        String skipped = ttaSkipReason(c, data, run, views.size(), ttaRecord);
        Predictions ttaPredictions = null;
        double ttaSeconds = 0;
        if (skipped == null) {
            // The same views and averaging as evaluate --tta, so the TTA operating point is chosen on the kind of
            // probabilities it is applied to. Costs one validation pass per view.
            long ttaStart = System.nanoTime();
            ttaPredictions = Evaluator.predictAveraged(best.network(), views, data.labels());
            ttaSeconds = (System.nanoTime() - ttaStart) / 1e9;
            run.provenance.put("ttaValidationSeconds", ttaSeconds);
            ttaRecord.put("ran", true);
            ttaRecord.put("seconds", ttaSeconds);
        } else {
            ttaRecord.put("ran", false);
            ttaRecord.put("skipped", skipped);
        }
        run.provenance.put("ttaOperatingPoint", ttaRecord);
        Metrics finalMetrics = MetricsCalculator.compute(bestPredictions, ClassLabels.POSITIVE);
        Map<String, Object> extra = new LinkedHashMap<>();
        extra.put("split", "validation");
        extra.put("best_epoch", run.bestEpoch);
        extra.put("skipped_unreadable", data.folder().skipped().size());
        // The operating thresholds and temperatures are chosen here, on validation, and stored in best.zip.
        DecisionRule rule = OperatingPoint.chooseAndStore(bestPredictions, ttaPredictions, views.size(), c, ClassLabels.POSITIVE, bestZip);
        extra.put("operating_point", OperatingPoint.report(bestPredictions, rule));
        if (ttaPredictions != null) {
            extra.put("operating_point_tta", OperatingPoint.reportTta(ttaPredictions, rule));
        } else {
            extra.put("operating_point_tta_skipped", skipped);
        }
        System.out.printf(Locale.ROOT, "operating threshold %.4f (%s on validation), temperature %.3f: stored in %s, used by evaluate and predict without --tta, and serve%n",
                rule.threshold(), rule.method(), rule.temperature(), RunDirectory.BEST);
        if (rule.tta() != null) {
            System.out.printf(Locale.ROOT, "TTA operating threshold %.4f (%s on validation averaged over %d views), temperature %.3f: "
                            + "stored in %s, used by evaluate --tta and predict --tta; the TTA validation pass took %.1f s%s%n",
                    rule.tta().threshold(), rule.method(), rule.tta().views(), rule.tta().temperature(), RunDirectory.BEST, ttaSeconds,
                    ttaRecord.containsKey("estimatedSeconds")
                            ? String.format(Locale.ROOT, " (estimated %.1f s)", (double) ttaRecord.get("estimatedSeconds")) : "");
        }
        run.dir.writeMetrics(finalMetrics, extra);
        run.dir.writePredictions(bestPredictions);
        run.dir.writeJson(RunDirectory.PROVENANCE, run.provenance);
        Charts.writeAllQuietly(run.dir.path());
        return new Result(run.dir, finalMetrics, bestPredictions, List.copyOf(run.history), run.bestEpoch, data.folder());
    }

    /**
     * Null when the TTA operating-point pass is to run, else why not: off by {@code ttaOperatingPoint: false}
     * (said on stdout), or its estimated cost ({@link #ttaEstimateSeconds}) more than the time budget has left
     * (a one-line warning on stderr). {@code record} gets the estimate, its basis and the budget left.
     */
    private static String ttaSkipReason(RunConfig c, PreparedData data, RunState run, int views, Map<String, Object> record) {
        record.put("views", views);
        if (!c.ttaOperatingPoint()) {
            String why = "ttaOperatingPoint: false";
            System.out.println("TTA operating point not chosen (" + why + "): " + RunDirectory.BEST
                    + " has no TTA rule, so evaluate --tta and predict --tta need --threshold VALUE");
            return why;
        }
        double estimate = ttaEstimateSeconds(c, data, run);
        record.put("estimatedSeconds", estimate);
        record.put("estimateBasis", String.format(Locale.ROOT, "%d views x the longest validation pass of this process (%.3f s)",
                views, run.longestValidationSeconds));
        if (c.timeBudgetMinutes() <= 0) {
            return null;
        }
        double left = c.timeBudgetMinutes() * 60 - (System.nanoTime() - run.start) / 1e9;
        record.put("budgetLeftSeconds", left);
        if (TimeBudget.ttaPassFits(left, estimate)) {
            return null;
        }
        String why = String.format(Locale.ROOT, "time budget: %.1f s left, the pass needs %.1f s by estimate", Math.max(0, left), estimate);
        System.err.printf(Locale.ROOT, "warning: TTA operating point skipped (%s for %d views of the validation split): %s has no TTA rule, "
                + "so evaluate/predict --tta need --threshold VALUE; raise --time-budget-minutes to keep it, or set ttaOperatingPoint: false%n",
                why, views, RunDirectory.BEST);
        return why;
    }

    /** The scanned data folder, its patient-grouped split, the preprocessing saved with the model and the run's decoding threads. */
    private record PreparedData(ImageFolder folder, PatientSplit.Split split, Preprocessing pre,
                                Supplier<DataSetIterator> validation, DecodePool decode) {
        List<String> labels() {
            return folder.labels();
        }
    }

    /**
     * The run as the epoch loop sees it: the folder, the network, the history so far, the provenance
     * to save with every model, and the best epoch so far.
     */
    private static final class RunState {
        final RunDirectory dir;
        final ComputationGraph net;
        final List<EpochRecord> history;
        final Map<String, Object> provenance;
        /** Where the current epoch's time goes; shared with the timed listeners and the data iterator. */
        final StageTimes stages = new StageTimes();
        int bestEpoch = 0;
        double bestAuc = Double.NEGATIVE_INFINITY;
        double bestLoss = Double.POSITIVE_INFINITY;
        /** The validation predictions of the best epoch, when that epoch ran in this process. */
        Predictions bestPredictions;
        /** Resident size after each epoch's clean-up, in MB (docs/reliability.md). */
        final List<Long> rssMbAfterEpoch = new ArrayList<>();
        /** Threads the JVM has started by the end of each epoch: flat once the run is under way (docs/reliability.md). */
        final List<Long> threadsStartedAfterEpoch = new ArrayList<>();
        /** When this process's epoch loop started (System.nanoTime), engine start included: the time budget counts from it. */
        long start = System.nanoTime();
        /** The longest validation pass of this process, in seconds: the basis of the TTA pass estimate. */
        double longestValidationSeconds;
        /** The weight average (emaDecay > 0), or null. */
        final WeightAverage average;

        void validationPassTook(double seconds) {
            longestValidationSeconds = Math.max(longestValidationSeconds, seconds);
        }

        RunState(RunDirectory dir, ComputationGraph net, List<EpochRecord> history, Map<String, Object> provenance,
                 WeightAverage average) {
            this.dir = dir;
            this.net = net;
            this.average = average;
            this.history = new ArrayList<>(history);
            this.provenance = provenance;
            for (EpochRecord r : history) {
                if (better(r.valAuc(), r.valLoss(), bestAuc, bestLoss)) {
                    bestAuc = r.valAuc();
                    bestLoss = r.valLoss();
                    bestEpoch = r.epoch();
                }
            }
        }

        /** Makes {@code epoch} the best one if it is {@link Trainer#better}; returns whether it did. */
        boolean offerBest(int epoch, Metrics m, Predictions val) {
            if (!better(m.auc(), m.loss(), bestAuc, bestLoss)) {
                return false;
            }
            bestAuc = m.auc();
            bestLoss = m.loss();
            bestEpoch = epoch;
            bestPredictions = val;
            return true;
        }
    }

    /** How one epoch's fit went. */
    private record Fit(long images, double seconds, double trainLoss) {
        double imagesPerSecond() {
            return images / Math.max(seconds, 1e-9);
        }
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

    /**
     * The refusals that need only the configuration, the --resume argument and the build: emaDecay with an engine that
     * trains copies, --featurize without a frozen trunk or with augmentation, engine spark without the Spark build, a
     * --resume that is not an existing last.zip, a model or ImageNet weights that do not fit. Nothing is read, made or
     * started: the CLI calls this before it starts the UI server; {@link #train} first thing.
     */
    public static void refuseBeforeStart(RunConfig c, Path resume) {
        refuseWeightAverage(c);
        refuseFeaturize(c);
        if ("spark".equals(c.engine())) {
            try {
                Class.forName(SPARK_ENGINE, false, Trainer.class.getClassLoader()); // not initialised: only whether it is there
            } catch (ClassNotFoundException | LinkageError e) {
                throw sparkBuildMissing();
            }
        }
        if (resume != null) {
            Resumption.refuseArgument(resume);
        }
        ModelFactory.refuseConfig(c);
    }

    private static final String SPARK_ENGINE = "org.xraydl.spark.SparkEngine";

    private static UserError sparkBuildMissing() {
        return new UserError("--engine spark needs the Spark build: run Maven with -Pspark (e.g. mvn -Pspark compile exec:java@train ...)");
    }

    private static void refuseFeaturize(RunConfig c) {
        if (c.featurize() && (!c.trunkFrozen() || c.augment())) {
            throw new UserError("--featurize needs a frozen trunk and no augmentation (set augment: false, and weights other than none or freezeTrunk: true)");
        }
    }

    public static TrainingEngine engine(RunConfig c) {
        refuseWeightAverage(c);
        if ("spark".equals(c.engine())) {
            try {
                Class<?> k = Class.forName(SPARK_ENGINE);
                return (TrainingEngine) k.getConstructor(RunConfig.class).newInstance(c);
            } catch (ClassNotFoundException | LinkageError e) {
                // LinkageError: org.xraydl.spark classes left in target/classes by an earlier -Pspark build, without Spark.
                throw sparkBuildMissing();
            } catch (ReflectiveOperationException e) {
                Throwable cause = e.getCause() != null ? e.getCause() : e;
                if (cause instanceof UserError u) {
                    throw u;
                }
                throw new UserError("cannot start the Spark engine: " + cause);
            }
        }
        if (c.featurize()) {
            refuseFeaturize(c);
            return new FeaturizedEngine();
        }
        if (c.workers() > 1) {
            return new ParallelWrapperEngine(c.workers());
        }
        return new LocalEngine();
    }

    /**
     * emaDecay needs the local engine: its listener must see every update of the run's own network in this JVM.
     * ParallelWrapper and Spark train copies (their listeners are cloned or shipped), and --featurize trains a
     * separate head graph.
     */
    static void refuseWeightAverage(RunConfig c) {
        if (c.emaDecay() <= 0) {
            return;
        }
        String why = "spark".equals(c.engine()) ? "engine spark trains copies of the network on its executors"
                : c.featurize() ? "--featurize trains a separate head graph"
                : c.workers() > 1 ? "workers " + c.workers() + " (ParallelWrapper) trains copies of the network on its workers"
                : null;
        if (why != null) {
            throw new UserError("emaDecay needs the local engine (workers: 1, engine: local, no --featurize): " + why
                    + ", whose updates the weight average cannot follow; set emaDecay: 0, or train on the local engine");
        }
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
        return TrainableParameters.of(net).count(); // what the weight average holds
    }

    private static long patients(List<LabeledImage> images) {
        return images.stream().map(LabeledImage::patientId).distinct().count();
    }

    private static Map<String, Object> provenance(RunConfig c, PreparedData data) {
        ImageFolder folder = data.folder();
        PatientSplit.Split split = data.split();
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("created", Instant.now().toString());
        p.put("dl4j", Versions.dl4j());
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
