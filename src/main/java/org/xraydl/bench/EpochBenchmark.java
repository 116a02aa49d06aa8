package org.xraydl.bench;

import org.xraydl.UserError;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;
import org.xraydl.train.StageTimes;
import org.xraydl.train.Trainer;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.stream.Stream;

/**
 * {@code benchmark --step epoch}: whole epochs of the real training job (the {@code train} goal's
 * Trainer: decode, augment, normalise, fit, validate, checkpoint, charts) on a data folder, in a
 * throwaway run folder, with the per-stage breakdown of every epoch. Comparable with
 * {@code shared/bench/torch_peer_train.py --split} on the same split.csv.
 */
public final class EpochBenchmark {
    public static final String STEP = "epoch";

    /**
     * @param config    YAML to start from (null: the bundled defaults); the flags below override it
     * @param overrides config keys set from the command line (data, model, imageSize, batchSize, epochs, ...)
     * @param split     a run's split.csv to use its partition, or null for the config's patient split
     */
    public record Spec(Path config, Map<String, Object> overrides, Path split, Tuning tuning) {
    }

    private EpochBenchmark() {
    }

    public static Map<String, Object> run(Spec spec, PrintStream out) throws IOException {
        if (!spec.tuning().workspace().equals(Tuning.DEFAULT.workspace()) || !spec.tuning().cache().equals(Tuning.DEFAULT.cache())) {
            throw new UserError("--step epoch runs the training pipeline as it is: --workspace and --cache apply to the step benchmarks only");
        }
        Path tmp = Files.createTempDirectory("xraydl-epoch-benchmark");
        try {
            Map<String, Object> o = new LinkedHashMap<>(spec.overrides());
            o.put("out", tmp.resolve("run").toString());
            o.put("name", "epoch-benchmark");
            RunConfig c = ConfigLoader.load(spec.config(), o);
            spec.tuning().applyGlobal();
            double loadBefore = Benchmark.loadAverage();
            long t0 = System.nanoTime();
            Trainer.Result r = Trainer.train(c, new Trainer.Options(false, List.of(), List.of(), null, spec.split()));
            double wall = (System.nanoTime() - t0) / 1e9;
            double loadAfter = Benchmark.loadAverage();
            List<Map<String, Double>> stages = readStages(r.runDirectory().resolve(StageTimes.CSV));
            List<Map<String, Object>> epochs = new ArrayList<>();
            for (int i = 0; i < r.history().size(); i++) {
                EpochRecord e = r.history().get(i);
                Map<String, Double> s = stages.get(i);
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("epoch", e.epoch());
                m.put("images", Math.round(e.imagesPerSecond() * e.seconds()));
                m.put("train_seconds", e.seconds());
                m.put("img_per_s", e.imagesPerSecond());
                m.put("validation_seconds", s.get("validation_s"));
                m.put("epoch_wall_seconds", s.get("epoch_wall_s"));
                Map<String, Double> st = new LinkedHashMap<>(s);
                st.remove("epoch");
                st.remove("epoch_wall_s");
                m.put("stages", st);
                m.put("val_auc", e.valAuc());
                epochs.add(m);
            }
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("engine", Benchmark.ENGINE);
            doc.put("backend", Benchmark.backend());
            doc.put("step", STEP);
            doc.put("model", c.model());
            doc.put("size", c.imageSize());
            doc.put("batch", c.batchSize());
            doc.put("eval_batch", c.evaluationBatchSize());
            doc.put("loader_threads", c.loaderThreads());
            doc.put("decode_threads", c.decodeThreadCount());
            doc.put("epochs", r.history().size());
            doc.put("train_images", countSide(r, "train"));
            doc.put("val_images", r.validationPredictions().size());
            doc.put("split", spec.split() == null ? "patient split of " + c.data() + " (valFraction " + c.valFraction() + ", seed " + c.seed() + ")"
                    : spec.split().toString());
            doc.put("wall_seconds", wall);
            doc.put("per_epoch", epochs);
            doc.put("load_average_before", loadBefore);
            doc.put("load_average_after", loadAfter);
            Map<String, Object> settings = spec.tuning().describe();
            settings.put("config", ConfigLoader.JSON.convertValue(c, Map.class));
            doc.put("settings", settings);
            for (Map<String, Object> e : epochs) {
                out.printf(Locale.ROOT, "[benchmark] epoch %s: %.1f s train (%.1f img/s), validation %.1f s, %s%n", e.get("epoch"),
                        (Double) e.get("train_seconds"), (Double) e.get("img_per_s"), (Double) e.get("validation_seconds"), e.get("stages"));
            }
            return doc;
        } finally {
            deleteTree(tmp);
        }
    }

    private static long countSide(Trainer.Result r, String side) throws IOException {
        try (Stream<String> lines = Files.lines(r.runDirectory().resolve(RunDirectory.SPLIT))) {
            return lines.filter(l -> l.endsWith("," + side)).count();
        }
    }

    private static List<Map<String, Double>> readStages(Path csv) throws IOException {
        List<String> lines = Files.readAllLines(csv);
        List<Map<String, Double>> out = new ArrayList<>();
        for (String l : lines.subList(1, lines.size())) {
            if (!l.isBlank()) {
                out.add(StageTimes.parseRow(lines.get(0), l));
            }
        }
        return out;
    }

    private static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path p : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
