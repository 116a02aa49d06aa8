package org.xraydl;

import org.datavec.image.transform.ImageTransform;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.data.ImageIterators;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.Preprocessing;
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

    /**
     * Which numbers of {@code net.params()} belong to its head (layers named {@code head_…}), found here from each
     * layer's parameter view and its offset rather than by the code under test; every other layer with parameters must
     * be frozen (the tiny DenseNet with {@code freezeTrunk: true}), else this fails.
     */
    public static boolean[] headMask(ComputationGraph net) {
        long base = net.params().offset();
        boolean[] head = new boolean[(int) net.params().length()];
        int marked = 0;
        for (org.deeplearning4j.nn.graph.vertex.GraphVertex v : net.getVertices()) {
            if (!v.hasLayer() || v.getLayer().numParams() == 0) {
                continue;
            }
            org.deeplearning4j.nn.api.Layer l = v.getLayer();
            String name = v.getVertexName();
            boolean isHead = name.startsWith(org.xraydl.model.Heads.PREFIX);
            boolean frozen = l instanceof org.deeplearning4j.nn.layers.FrozenLayer || l instanceof org.deeplearning4j.nn.layers.FrozenLayerWithBackprop;
            if (isHead == frozen) {
                throw new IllegalStateException("layer " + name + (frozen ? " is frozen" : " is not frozen"));
            }
            if (isHead) {
                long start = l.params().offset() - base;
                for (long i = start; i < start + l.numParams(); i++) {
                    if (head[(int) i]) {
                        throw new IllegalStateException("two layers share parameter " + i);
                    }
                    head[(int) i] = true;
                    marked++;
                }
            }
        }
        if (marked == 0) {
            throw new IllegalStateException("no head parameters");
        }
        return head;
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

    /**
     * Class probabilities of {@code images} (in order) averaged over {@code views}, computed here rather than by
     * the pipeline's averaging: each view's evaluation iterator is run to its end, its outputs summed per image,
     * and the sums divided by the number of views.
     */
    public static Predictions averagedOverViews(ComputationGraph net, List<LabeledImage> images, Preprocessing pre,
                                                List<ImageTransform> views) {
        int k = pre.labels().size();
        double[][] sum = new double[images.size()][k];
        for (ImageTransform view : views) {
            DataSetIterator it = ImageIterators.evaluation(images, pre, 4, view);
            int i = 0;
            while (it.hasNext()) {
                DataSet batch = it.next();
                INDArray out = net.outputSingle(false, batch.getFeatures());
                for (int r = 0; r < out.rows(); r++, i++) {
                    for (int j = 0; j < k; j++) {
                        sum[i][j] += out.getDouble(r, j);
                    }
                }
            }
            if (i != images.size()) {
                throw new IllegalStateException("view " + view + " gave " + i + " of " + images.size() + " images");
            }
        }
        List<String> files = new ArrayList<>();
        int[] truth = new int[images.size()];
        for (int i = 0; i < images.size(); i++) {
            for (int j = 0; j < k; j++) {
                sum[i][j] /= views.size();
            }
            files.add(images.get(i).file().toString());
            truth[i] = pre.labels().indexOf(images.get(i).label());
        }
        return new Predictions(pre.labels(), files, truth, sum);
    }
}
