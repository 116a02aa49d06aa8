package org.xraydl;

import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.evaluate.Predictions;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** Shared fixtures: the real X-ray sample shipped in data/, and tiny-model configs that keep tests fast. */
public final class TestData {

    private TestData() {
    }

    public static Path projectDir() {
        return Path.of(System.getProperty("project.basedir", ".")).toAbsolutePath();
    }

    /** data/chest-xray-sample: train/ and test/ with NORMAL/ and PNEUMONIA/, real images. */
    public static Path sample() {
        return projectDir().resolve("data/chest-xray-sample");
    }

    /** The shared full training split, when this machine has it (tests using it are skipped otherwise). */
    public static Path sharedTrain() {
        return projectDir().resolve("../shared/datasets/chest-xray/train").normalize();
    }

    /** A compact DenseNet small enough to train on 32 px images in seconds. */
    public static Map<String, Object> tinyOverrides() {
        Map<String, Object> o = new HashMap<>();
        o.put("model", "densenet");
        o.put("weights", "none");
        o.put("densenetGrowth", 4);
        o.put("densenetBlocks", List.of(1, 1));
        o.put("densenetInitFeatures", 8);
        o.put("headHidden", List.of(8));
        o.put("headDropout", List.of(0.1));
        o.put("imageSize", 32);
        o.put("batchSize", 8);
        o.put("epochs", 1);
        return o;
    }

    public static RunConfig tinyConfig(Map<String, Object> extra) {
        Map<String, Object> o = tinyOverrides();
        o.putAll(extra);
        return ConfigLoader.load(null, o);
    }

    /** Copies {@code n} real images of each class from the sample's train split into {@code dir/CLASS/}. */
    public static void copySample(Path dir, int n, String... classes) throws IOException {
        for (String cls : classes) {
            Path target = Files.createDirectories(dir.resolve(cls));
            try (Stream<Path> files = Files.list(sample().resolve("train").resolve(cls.toUpperCase()))) {
                for (Path f : files.sorted().limit(n).toList()) {
                    Files.copy(f, target.resolve(f.getFileName()));
                }
            }
        }
    }

    /** Predictions over NORMAL / PNEUMONIA of images img0.jpeg, img1.jpeg, ... with these true classes and P(PNEUMONIA). */
    public static Predictions predictions(int[] truth, double[] pPositive) {
        double[][] p = new double[truth.length][];
        List<String> files = new ArrayList<>();
        for (int i = 0; i < truth.length; i++) {
            p[i] = new double[]{1 - pPositive[i], pPositive[i]};
            files.add("img" + i + ".jpeg");
        }
        return new Predictions(List.of("NORMAL", "PNEUMONIA"), files, truth, p);
    }
}
