package org.xraydl.data;

import org.datavec.api.records.metadata.RecordMetaData;
import org.datavec.api.split.CollectionInputSplit;
import org.datavec.image.transform.ImageTransform;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.xraydl.TestData;
import org.xraydl.UserError;
import org.xraydl.config.RunConfig;

import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Batches decoded on several threads: the same for any number of them and with or without the background
 * loader; evaluation batches exactly DataVec's; a training image's augmentation a function of (epoch seed,
 * position) only; a bad file the scanner's one-line error on any thread; no thread left after close.
 */
class ImageBatchIteratorTest {
    /** A bound against hangs only (nothing here is timed). */
    private static final Duration LIMIT = Duration.ofSeconds(120);

    @TempDir
    Path tmp;

    /** 7 + 7 real X-rays, sorted by path (NORMAL first). */
    private List<LabeledImage> images() throws IOException {
        TestData.copySample(tmp, 7, "NORMAL", "PNEUMONIA");
        try (Stream<Path> files = Files.walk(tmp)) {
            return files.filter(Files::isRegularFile).sorted()
                    .map(f -> new LabeledImage(f, f.getParent().getFileName().toString(), f.getFileName().toString())).toList();
        }
    }

    private static RunConfig augmenting() {
        return TestData.tinyConfig(Map.of("batchSize", 4, "augment", true, "rotationDegrees", 30.0, "flip", true, "cropScaleMin", 0.5));
    }

    private static List<DataSet> drain(DataSetIterator it) {
        List<DataSet> out = new ArrayList<>();
        while (it.hasNext()) {
            out.add(it.next());
        }
        return out;
    }

    private static float[] values(INDArray a) {
        return a.dup('c').data().asFloat();
    }

    /** Features compared as raw float bits (so -0.0 and NaN count too), labels exactly, batch by batch. */
    private static void assertSameBatches(List<DataSet> expected, List<DataSet> actual, String what) {
        assertEquals(expected.size(), actual.size(), what + ": batch count");
        for (int b = 0; b < expected.size(); b++) {
            float[] e = values(expected.get(b).getFeatures());
            float[] a = values(actual.get(b).getFeatures());
            assertEquals(e.length, a.length, what + ": size of batch " + b);
            for (int i = 0; i < e.length; i++) {
                if (Float.floatToRawIntBits(e[i]) != Float.floatToRawIntBits(a[i])) {
                    throw new AssertionError(what + ": batch " + b + " differs at element " + i + ": " + e[i] + " vs " + a[i]);
                }
            }
            assertArrayEquals(expected.get(b).getFeatures().shape(), actual.get(b).getFeatures().shape(), what);
            assertArrayEquals(values(expected.get(b).getLabels()), values(actual.get(b).getLabels()), what + ": labels of batch " + b);
        }
    }

    private static long liveThreads(String prefix) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.isAlive() && t.getName().startsWith(prefix)).count();
    }

    /** The seed of the image at {@code position}: the (position+1)-th value of SplittableRandom(first value of SplittableRandom(seed)). */
    private static long expectedImageSeed(long epochSeed, int position) {
        SplittableRandom stream = new SplittableRandom(new SplittableRandom(epochSeed).nextLong());
        long v = 0;
        for (int k = 0; k <= position; k++) {
            v = stream.nextLong();
        }
        return v;
    }

    @Test
    void trainingBatchesAreTheSameForAnyNumberOfDecodeThreadsAndWithTheLoaderThread() throws IOException {
        List<LabeledImage> images = images();
        RunConfig c = augmenting();
        Preprocessing p = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
        try (DecodePool two = DecodePool.of(2); DecodePool three = DecodePool.of(3); LoaderThread loader = new LoaderThread()) {
            for (long seed : new long[]{43, 44}) {
                List<DataSet> one = drain(ImageIterators.training(images, p, c, seed)); // the calling thread alone
                assertEquals(4, one.size(), "14 images in batches of 4: 4 + 4 + 4 + 2");
                assertEquals(2, one.get(3).numExamples());
                assertSameBatches(one, drain(ImageIterators.training(images, p, c, seed, DecodePool.of(1))), "seed " + seed + ", decodeThreads 1");
                assertSameBatches(one, assertTimeoutPreemptively(LIMIT, () -> drain(ImageIterators.training(images, p, c, seed, two))),
                        "seed " + seed + ", decodeThreads 2");
                assertSameBatches(one, assertTimeoutPreemptively(LIMIT, () -> drain(ImageIterators.training(images, p, c, seed, three))),
                        "seed " + seed + ", decodeThreads 3");
                PrefetchingIterator ahead = loader.prefetch(ImageIterators.training(images, p, c, seed, three), 2);
                assertSameBatches(one, assertTimeoutPreemptively(LIMIT, () -> drain(ahead)), "seed " + seed + ", loaderThreads 1 + decodeThreads 3");
                ahead.close();
            }
            // the comparisons can fail: another epoch seed gives other images
            float[] a = values(drain(ImageIterators.training(images, p, c, 43, two)).get(0).getFeatures());
            float[] b = values(drain(ImageIterators.training(images, p, c, 44, two)).get(0).getFeatures());
            assertFalse(java.util.Arrays.equals(a, b), "epoch seeds 43 and 44 gave the same first batch");
        }
    }

    @Test
    void normalisingEachImageAsItIsDecodedGivesTheBitsOfNormalisingTheBatch() throws IOException {
        List<LabeledImage> images = images();
        RunConfig c = augmenting();
        Preprocessing p = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
        ImageNormalizer batchLevel = new ImageNormalizer(p.normalization());
        try (DecodePool two = DecodePool.of(2)) {
            List<DataSet> perImage = drain(ImageIterators.training(images, p, c, 43, two));
            DataSetIterator reference = ImageIterators.training(images, p, c, 43, two);
            // Not an ImageNormalizer, so the iterator runs it on the whole batch (ND4J's ops), as before.
            reference.setPreProcessor(ds -> batchLevel.preProcess(ds));
            assertSameBatches(drain(reference), perImage, "per-image vs batch normalisation");
            DataSetIterator raw = ImageIterators.training(images, p, c, 43, two);
            raw.setPreProcessor(ds -> { });
            assertFalse(java.util.Arrays.equals(values(drain(raw).get(0).getFeatures()), values(perImage.get(0).getFeatures())),
                    "the raw batch differs: normalisation happened");
        }
    }

    @Test
    void severalThreadsReallyDecodeOneBatchAtOnce() throws IOException {
        List<LabeledImage> images = images().subList(0, 4);
        RunConfig c = augmenting();
        Preprocessing p = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
        CountDownLatch secondStarted = new CountDownLatch(1);
        Set<Thread> decoders = ConcurrentHashMap.newKeySet();
        ImageBatchIterator.Transforms waiting = (pass, position) -> {
            decoders.add(Thread.currentThread());
            if (position == 1) {
                secondStarted.countDown();
            }
            if (position == 0) { // image 0 is held until another thread has taken image 1: two decode at once
                try {
                    assertTrue(secondStarted.await(60, TimeUnit.SECONDS), "no second thread took image 1 while image 0 was held");
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            }
            return CenterCropTransform.of(p);
        };
        try (DecodePool pool = DecodePool.of(2)) {
            DataSet batch = assertTimeoutPreemptively(LIMIT,
                    () -> new ImageBatchIterator(ImageIterators.uris(images), null, waiting, p, 4, false, pool).next());
            assertEquals(4, batch.numExamples());
            assertEquals(2, decoders.size(), "decoded on " + decoders);
            assertTrue(decoders.stream().anyMatch(t -> t.getName().startsWith(pool.threadNamePrefix())), "no helper thread: " + decoders);
            assertSameBatches(List.of(ImageIterators.evaluation(images, p, 4).next()), List.of(batch), "held batch");
        }
    }

    @Test
    void evaluationBatchesAreDataVecsBitForBitWithTheirFileUrisInOrder() throws IOException {
        List<LabeledImage> images = images(); // 14 images in batches of 4: the last batch has 2
        RunConfig c = TestData.tinyConfig(Map.of());
        Preprocessing p = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
        List<URI> uris = ImageIterators.uris(images);
        try (DecodePool three = DecodePool.of(3)) {
            List<ImageTransform> views = TestTimeAugmentation.views(p);
            for (int v = 0; v < views.size(); v++) {
                // the reference: DataVec's RecordReaderDataSetIterator with metadata, with an instance of the view of its own
                List<DataSet> expected = drain(ImageIterators.dataVec(new CollectionInputSplit(uris), TestTimeAugmentation.views(p).get(v), p, 4, true));
                assertEquals(4, expected.size());
                assertEquals(2, expected.get(3).numExamples(), "a final partial batch");
                ImageTransform view = views.get(v);
                for (DecodePool pool : new DecodePool[]{null, three}) {
                    String what = "view " + v + (pool == null ? ", calling thread" : ", 3 decode threads");
                    List<DataSet> actual = assertTimeoutPreemptively(LIMIT, () -> drain(ImageIterators.evaluation(images, p, 4, view, pool)));
                    assertSameBatches(expected, actual, what);
                    for (int b = 0; b < expected.size(); b++) {
                        assertNotNull(actual.get(b).getExampleMetaData(), what);
                        assertEquals(expected.get(b).getExampleMetaData(), actual.get(b).getExampleMetaData(), what + ": metadata of batch " + b);
                    }
                }
            }
            // the plain view, as validation and evaluate read it: its URIs are the files in the order given
            List<DataSet> plain = drain(ImageIterators.evaluation(images, p, 4, three));
            assertSameBatches(drain(ImageIterators.dataVecEvaluation(images, p, 4)), plain, "plain view");
            List<String> files = new ArrayList<>();
            for (DataSet ds : plain) {
                ds.getExampleMetaData().forEach(m -> files.add(((RecordMetaData) m).getURI().getPath()));
            }
            assertEquals(images.stream().map(i -> i.file().toString()).toList(), files);
        }
    }

    @Test
    void aTrainingImagesAugmentationDependsOnlyOnTheEpochSeedAndItsPosition() throws IOException {
        List<LabeledImage> images = images();
        RunConfig c = augmenting();
        Preprocessing p = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
        long seed = 1234;
        // The epoch's order: the shuffle DataVec's iterator read its first pass in (constructor, then one reset).
        ShuffledCollectionSplit split = new ShuffledCollectionSplit(ImageIterators.uris(images), seed);
        split.reset();
        List<URI> order = split.currentOrder();
        ImageNormalizer normalizer = new ImageNormalizer(p.normalization());
        List<DataSet> batches;
        try (DecodePool two = DecodePool.of(2)) {
            batches = assertTimeoutPreemptively(LIMIT, () -> drain(ImageIterators.training(images, p, c, seed, two)));
        }
        int s = p.imageSize();
        for (int k = 0; k < order.size(); k++) {
            // image k alone: its file, decoded by DataVec's own loader with an augmentation seeded for (seed, k)
            AugmentationTransform alone = new AugmentationTransform(new Random(expectedImageSeed(seed, k)), s, c.rotationDegrees(),
                    c.cropScaleMin(), c.flip(), p.filter());
            INDArray expected = normalizer.normalize(new org.datavec.image.loader.NativeImageLoader(s, s, p.channels(), alone)
                    .asMatrix(new java.io.File(order.get(k))));
            INDArray row = batches.get(k / 4).getFeatures().slice(k % 4);
            assertArrayEquals(values(expected), values(row), 0f, "image " + k + " of the epoch (" + order.get(k) + ")");
            String label = Path.of(order.get(k)).getParent().getFileName().toString();
            assertEquals(p.labels().indexOf(label), batches.get(k / 4).getLabels().getRow(k % 4).argMax().getInt(0), "label of image " + k);
        }
        // and the check can fail: image 0 with image 1's numbers is another image
        AugmentationTransform shifted = new AugmentationTransform(new Random(expectedImageSeed(seed, 1)), s, c.rotationDegrees(),
                c.cropScaleMin(), c.flip(), p.filter());
        INDArray other = normalizer.normalize(new org.datavec.image.loader.NativeImageLoader(s, s, p.channels(), shifted)
                .asMatrix(new java.io.File(order.get(0))));
        assertFalse(java.util.Arrays.equals(values(other), values(batches.get(0).getFeatures().slice(0))));
    }

    @Test
    void imageSeedsAreSplitMix64OverTheEpochSeed() {
        for (long seed : new long[]{0, 1, 42, -7, Long.MAX_VALUE}) {
            for (int k : new int[]{0, 1, 2, 31, 4433}) {
                assertEquals(expectedImageSeed(seed, k), ImageRandom.seed(seed, k), "seed " + seed + ", image " + k);
            }
        }
        assertEquals(43, ImageRandom.passSeed(43, 0), "the first pass uses the epoch seed itself");
        assertTrue(ImageRandom.passSeed(43, 1) != 43 && ImageRandom.passSeed(43, 1) != ImageRandom.passSeed(43, 2));
    }

    @Test
    void aCorruptFileIsTheScannersOneLineErrorOnAnyThreadAndLeavesNoThreadBehind() throws IOException {
        List<LabeledImage> good = images();
        Path bad = tmp.resolve("NORMAL").resolve("zz-corrupt.jpeg"); // not an image (the scanner's first bad file: NORMAL sorts first)
        Files.write(bad, new byte[]{1, 2, 3, 4, 5, 6, 7, 8});
        Path bad2 = tmp.resolve("PNEUMONIA").resolve("zz-empty.jpeg"); // empty
        Files.write(bad2, new byte[0]);
        // positions 6 and 7, both in the second batch of 4: the first of them is reported, whichever thread fails first
        List<LabeledImage> withBad = new ArrayList<>(good.subList(0, 6));
        withBad.add(new LabeledImage(bad, "NORMAL", "zz"));
        withBad.add(new LabeledImage(bad2, "PNEUMONIA", "zz2"));
        withBad.addAll(good.subList(6, good.size()));
        // What the project says about these files: the scanner's one line, naming the first one in the data folder's order.
        UserError scanned = assertThrows(UserError.class, () -> ImageFolderScanner.scan(tmp, null, false, 0));
        String expected = scanned.getMessage().replace(" (and 1 more)", "");
        assertTrue(expected.contains(bad.toString()), expected);
        assertFalse(expected.contains("\n"), expected);
        RunConfig c = TestData.tinyConfig(Map.of("batchSize", 4, "augment", false));
        Preprocessing p = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));

        for (int threads = 1; threads <= 3; threads++) {
            DecodePool pool = DecodePool.of(threads);
            String prefix = pool.threadNamePrefix();
            DataSetIterator it = ImageIterators.evaluation(withBad, p, 4, pool);
            assertEquals(4, it.next().numExamples(), "the batch before the bad files");
            UserError e = assertTimeoutPreemptively(LIMIT, () -> assertThrows(UserError.class, it::next));
            assertEquals(expected, e.getMessage(), threads + " decode thread(s)");
            // through the background loader too: the same error on the training thread
            try (LoaderThread loader = new LoaderThread()) {
                PrefetchingIterator ahead = loader.prefetch(ImageIterators.evaluation(withBad, p, 4, pool), 2);
                UserError viaLoader = assertTimeoutPreemptively(LIMIT, () -> assertThrows(UserError.class, () -> drain(ahead)));
                assertEquals(expected, viaLoader.getMessage(), threads + " decode thread(s), loader thread");
                ahead.close();
            }
            // and the pool still decodes the good files afterwards
            assertEquals(4, assertTimeoutPreemptively(LIMIT, () -> drain(ImageIterators.evaluation(good, p, 4, pool))).size());
            assertEquals(threads - 1, liveThreads(prefix), "helper threads of a " + threads + "-thread pool while it is open");
            pool.close();
            assertEquals(0, liveThreads(prefix), "helper threads left after close");
            assertThrows(IllegalStateException.class, () -> drain(ImageIterators.evaluation(good, p, 4, pool)));
        }
        // --skip-bad: the scan counts them, and the rest reads fine
        ImageFolder skipped = ImageFolderScanner.scan(tmp, null, true, 0);
        assertEquals(2, skipped.skipped().size());
        try (DecodePool pool = DecodePool.of(2)) {
            assertEquals(14, drain(ImageIterators.evaluation(skipped.images(), p, 4, pool)).stream().mapToInt(DataSet::numExamples).sum());
        }
    }
}
