package org.xraydl.data;

import org.datavec.image.data.ImageWritable;
import org.datavec.image.loader.NativeImageLoader;
import org.datavec.image.transform.BaseImageTransform;
import org.datavec.image.transform.FlipImageTransform;
import org.datavec.image.transform.ImageTransform;
import org.datavec.image.transform.RotateImageTransform;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.xraydl.TestData;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The brightness and contrast keys in the training augmentation: off (0) they change nothing; on, they act last,
 * after the same rotation, crop and flip, with factors drawn next from the image's Random; evaluation never sees them.
 */
class AugmentationIntensityTest {
    private static final int SIZE = 48;
    private static final long[] SEEDS = {1, 42, -7, 123456789};

    /** Two real X-rays of each class. */
    private static List<File> files() throws IOException {
        List<File> out = new ArrayList<>();
        for (String cls : List.of("NORMAL", "PNEUMONIA")) {
            try (Stream<Path> f = Files.list(TestData.sample().resolve("train").resolve(cls))) {
                f.sorted().limit(2).forEach(p -> out.add(p.toFile()));
            }
        }
        return out;
    }

    /** The file as training decodes it (3 channels), through {@code t}: raw levels 0..255, before normalisation. */
    private static float[] decoded(File file, ImageTransform t) throws IOException {
        return new NativeImageLoader(SIZE, SIZE, 3, t).asMatrix(file).dup('c').data().asFloat();
    }

    /** The paper's augmentation written out here from DataVec's and the project's parts: rotation, crop, flip. */
    private static final class RotateCropFlip extends BaseImageTransform<Object> {
        private final RotateImageTransform rotate;
        private final RandomResizedCropTransform crop;
        private final FlipImageTransform flip = new FlipImageTransform(1);

        RotateCropFlip(Random random, Resampling filter) {
            super(random);
            rotate = new RotateImageTransform(random, 30f);
            crop = new RandomResizedCropTransform(random, SIZE, 0.5, filter);
        }

        @Override
        protected ImageWritable doTransform(ImageWritable image, Random random) {
            ImageWritable out = crop.transform(rotate.transform(image, random), random);
            return random.nextBoolean() ? flip.transform(out) : out;
        }
    }

    @Test
    void withBothKeysZeroTheAugmentationIsByteForByteTheRotationCropAndFlipAlone() throws IOException {
        for (Resampling filter : Resampling.values()) {
            for (File file : files()) {
                for (long seed : SEEDS) {
                    String what = file.getName() + ", seed " + seed + ", " + filter;
                    float[] expected = decoded(file, new RotateCropFlip(new Random(seed), filter));
                    assertArrayEquals(expected, decoded(file, new AugmentationTransform(new Random(seed), SIZE, 30, 0.5, true, filter, 0, 0)),
                            0f, what);
                    assertArrayEquals(expected, decoded(file, new AugmentationTransform(new Random(seed), SIZE, 30, 0.5, true, filter)),
                            0f, what + " (constructor without the keys)");
                }
            }
        }
    }

    /**
     * The jittered image from the plain one: factors uniform in [1 - amount, 1 + amount] from the next draws of the
     * image's Random (brightness first, each only if its amount is > 0), applied here in float as OpenCV's
     * convertTo does (p * alpha + beta, rounded to nearest, clamped), the contrast mean over all values.
     */
    private static float[] expectedJitter(float[] plain, Random afterGeometry, double b, double c) {
        double fb = b > 0 ? 1 - b + 2 * b * afterGeometry.nextDouble() : 1;
        double fc = c > 0 ? 1 - c + 2 * c * afterGeometry.nextDouble() : 1;
        float[] bright = new float[plain.length];
        double sum = 0;
        for (int i = 0; i < plain.length; i++) {
            bright[i] = level(plain[i] * (float) fb);
            sum += bright[i];
        }
        float beta = (float) ((1 - fc) * (sum / plain.length));
        float[] out = new float[plain.length];
        for (int i = 0; i < plain.length; i++) {
            out[i] = level(bright[i] * (float) fc + beta);
        }
        return out;
    }

    private static float level(float v) {
        return (float) Math.max(0, Math.min(255, Math.rint(v)));
    }

    @Test
    void theJitterActsAfterTheSameRotationCropAndFlipWithTheImagesNextRandomNumbers() throws IOException {
        double[][] amounts = {{0.3, 0.4}, {0.5, 0}, {0, 0.5}};
        for (File file : files()) {
            for (long seed : SEEDS) {
                for (double[] a : amounts) {
                    String what = file.getName() + ", seed " + seed + ", brightness " + a[0] + ", contrast " + a[1];
                    Random r = new Random(seed);
                    float[] plain = decoded(file, new AugmentationTransform(r, SIZE, 30, 0.5, true, Resampling.OPENCV));
                    float[] expected = expectedJitter(plain, r, a[0], a[1]);
                    float[] actual = decoded(file, new AugmentationTransform(new Random(seed), SIZE, 30, 0.5, true, Resampling.OPENCV, a[0], a[1]));
                    assertArrayEquals(expected, actual, 0f, what);
                    assertFalse(java.util.Arrays.equals(plain, actual), what + ": the jitter changed the image");
                }
            }
        }
    }

    private static List<DataSet> drain(DataSetIterator it) {
        List<DataSet> out = new ArrayList<>();
        while (it.hasNext()) {
            out.add(it.next());
        }
        return out;
    }

    private static void assertSameFeatures(List<DataSet> expected, List<DataSet> actual, String what) {
        assertEquals(expected.size(), actual.size(), what);
        for (int b = 0; b < expected.size(); b++) {
            assertArrayEquals(expected.get(b).getFeatures().dup('c').data().asFloat(), actual.get(b).getFeatures().dup('c').data().asFloat(),
                    0f, what + ", batch " + b);
        }
    }

    @Test
    void trainingGetsTheKeysAndEvaluationTtaAndTheZipsPreprocessingNeverDo() throws Exception {
        List<LabeledImage> images = new ArrayList<>();
        for (File f : files()) {
            images.add(new LabeledImage(f.toPath(), f.getParentFile().getName(), f.getName()));
        }
        List<String> labels = List.of("NORMAL", "PNEUMONIA");
        RunConfig off = TestData.tinyConfig(Map.of("batchSize", 3));
        RunConfig on = TestData.tinyConfig(Map.of("batchSize", 3, "brightness", 0.5, "contrast", 0.5));
        Preprocessing p = Preprocessing.of(on, labels);
        assertEquals(Preprocessing.of(off, labels), p, "the model zip's preprocessing");
        String json = ConfigLoader.JSON.writeValueAsString(p);
        assertFalse(json.contains("brightness") || json.contains("contrast"), json);

        // evaluation, every TTA view: built from the preprocessing alone, so the same pixels
        List<Supplier<DataSetIterator>> viewsOn = ImageIterators.evaluationViews(images, Preprocessing.of(on, labels), 3, true);
        List<Supplier<DataSetIterator>> viewsOff = ImageIterators.evaluationViews(images, Preprocessing.of(off, labels), 3, true);
        for (int v = 0; v < viewsOn.size(); v++) {
            assertSameFeatures(drain(viewsOff.get(v).get()), drain(viewsOn.get(v).get()), "evaluation view " + v);
        }
        // augment false: no augmentation at all, the keys included
        RunConfig plainOn = TestData.tinyConfig(Map.of("batchSize", 3, "augment", false, "brightness", 0.5, "contrast", 0.5));
        RunConfig plainOff = TestData.tinyConfig(Map.of("batchSize", 3, "augment", false));
        assertSameFeatures(drain(ImageIterators.training(images, p, plainOff, 5)), drain(ImageIterators.training(images, p, plainOn, 5)),
                "augment false");

        // training: image k of the epoch is its file through the augmentation with the keys and ImageRandom's Random
        long seed = 5;
        List<URI> uris = ImageIterators.uris(images);
        ShuffledCollectionSplit split = new ShuffledCollectionSplit(uris, seed);
        split.reset(); // the order the iterator's first pass reads
        List<URI> order = split.currentOrder();
        List<DataSet> batches = drain(ImageIterators.training(images, p, on, seed));
        ImageNormalizer normalizer = new ImageNormalizer(p.normalization());
        int s = p.imageSize();
        for (int k = 0; k < order.size(); k++) {
            AugmentationTransform t = new AugmentationTransform(ImageRandom.forImage(seed, k), s, on.rotationDegrees(), on.cropScaleMin(),
                    on.flip(), p.filter(), 0.5, 0.5);
            float[] expected = normalizer.normalize(new NativeImageLoader(s, s, 3, t).asMatrix(new File(order.get(k)))).dup('c').data().asFloat();
            assertArrayEquals(expected, batches.get(k / 3).getFeatures().slice(k % 3).dup('c').data().asFloat(), 0f, "training image " + k);
        }
        assertFalse(java.util.Arrays.equals(batches.get(0).getFeatures().dup('c').data().asFloat(),
                drain(ImageIterators.training(images, p, off, seed)).get(0).getFeatures().dup('c').data().asFloat()), "the keys reach training");
    }
}
