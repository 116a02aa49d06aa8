package org.xraydl.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The background loader hands out exactly the synchronous iterator's batches, fails loudly, reads
 * every epoch on one and the same thread, and leaves no thread behind once closed.
 */
class PrefetchingIteratorTest {
    private static final Duration LIMIT = Duration.ofSeconds(60);

    @TempDir
    Path tmp;

    private List<LabeledImage> images() throws IOException {
        TestData.copySample(tmp, 5, "NORMAL", "PNEUMONIA");
        try (Stream<Path> files = Files.walk(tmp)) {
            return files.filter(Files::isRegularFile).sorted()
                    .map(f -> new LabeledImage(f, f.getParent().getFileName().toString(), f.getFileName().toString())).toList();
        }
    }

    private static RunConfig config() {
        return TestData.tinyConfig(Map.of("batchSize", 3, "augment", true, "rotationDegrees", 30.0, "flip", true));
    }

    private static Preprocessing pre(RunConfig c) {
        return Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
    }

    private static List<DataSet> drain(DataSetIterator it) {
        List<DataSet> out = new ArrayList<>();
        while (it.hasNext()) {
            out.add(it.next());
        }
        return out;
    }

    /** Records the thread that prepares each batch (the pre-processor runs where the batch is read). */
    private static DataSetIterator recording(DataSetIterator it, Set<Thread> readers) {
        DataSetPreProcessor normalize = it.getPreProcessor();
        it.setPreProcessor(ds -> {
            readers.add(Thread.currentThread());
            normalize.preProcess(ds);
        });
        return it;
    }

    private static float[] values(INDArray a) {
        return a.dup('c').data().asFloat();
    }

    private static void assertSameBatches(List<DataSet> expected, List<DataSet> actual, String what) {
        assertEquals(expected.size(), actual.size(), what + ": batch count");
        for (int i = 0; i < expected.size(); i++) {
            assertArrayEquals(values(expected.get(i).getFeatures()), values(actual.get(i).getFeatures()), what + ": features of batch " + i);
            assertArrayEquals(values(expected.get(i).getLabels()), values(actual.get(i).getLabels()), what + ": labels of batch " + i);
        }
    }

    private static long liveLoaderThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith(LoaderThread.THREAD_PREFIX)).count();
    }

    @Test
    void everyEpochReadsOnOneThreadAndGivesTheSynchronousBatches() throws IOException {
        List<LabeledImage> images = images();
        RunConfig c = config();
        Preprocessing p = pre(c);
        Set<Thread> readers = ConcurrentHashMap.newKeySet();
        LoaderThread loader = new LoaderThread();
        try (loader) {
            // like Trainer: a new iterator per epoch with that epoch's seed
            for (int epoch = 1; epoch <= 4; epoch++) {
                List<DataSet> sync = drain(ImageIterators.training(images, p, c, 7 + epoch));
                PrefetchingIterator it = loader.prefetch(recording(ImageIterators.training(images, p, c, 7 + epoch), readers), 2);
                List<DataSet> async = assertTimeoutPreemptively(LIMIT, () -> drain(it));
                assertEquals(4, sync.size()); // 10 images in batches of 3: 3 + 3 + 3 + 1
                assertSameBatches(sync, async, "epoch " + epoch);
                it.close();
            }
            // the comparison can fail: another epoch seed gives other crops
            assertNotEquals(values(drain(ImageIterators.training(images, p, c, 8)).get(0).getFeatures())[0],
                    values(drain(ImageIterators.training(images, p, c, 9)).get(0).getFeatures())[0]);

            // reset() starts a new pass over the same source, on the same thread, with the source's own reset semantics
            DataSetIterator plain = ImageIterators.training(images, p, c, 3);
            PrefetchingIterator again = loader.prefetch(recording(ImageIterators.training(images, p, c, 3), readers), 2);
            for (int pass = 1; pass <= 3; pass++) {
                List<DataSet> sync = drain(plain);
                assertSameBatches(sync, assertTimeoutPreemptively(LIMIT, () -> drain(again)), "pass " + pass + " after reset");
                plain.reset();
                again.reset();
            }
            again.close();
        }

        assertEquals(1, readers.size(), "batches were read on " + readers);
        Thread reader = readers.iterator().next();
        assertNotSame(Thread.currentThread(), reader);
        assertTrue(reader.getName().startsWith(LoaderThread.THREAD_PREFIX), reader.getName());
        assertFalse(reader.isAlive(), "close() did not end the loader thread");
        assertEquals(0, liveLoaderThreads());
    }

    @Test
    void aReaderErrorInEpochTwoIsRethrownWithItsMessageAndTheThreadServesEpochThree() throws IOException {
        List<LabeledImage> good = images();
        List<LabeledImage> withBad = new ArrayList<>(good);
        Path bad = tmp.resolve("PNEUMONIA").resolve("zz-corrupt.jpeg");
        Files.write(bad, new byte[]{1, 2, 3, 4, 5, 6, 7, 8});
        withBad.add(new LabeledImage(bad, "PNEUMONIA", "zz"));
        RunConfig c = TestData.tinyConfig(Map.of("batchSize", 3, "augment", false));
        Preprocessing p = pre(c);
        // unshuffled evaluation order puts the bad file in the last batch, after good ones
        RuntimeException expected = assertThrows(RuntimeException.class, () -> drain(ImageIterators.evaluation(withBad, p, 3)));
        assertTrue(expected.getMessage() != null && !expected.getMessage().isBlank());

        Set<Thread> readers = ConcurrentHashMap.newKeySet();
        try (LoaderThread loader = new LoaderThread()) {
            PrefetchingIterator epoch1 = loader.prefetch(recording(ImageIterators.evaluation(good, p, 3), readers), 2);
            assertEquals(4, assertTimeoutPreemptively(LIMIT, () -> drain(epoch1)).size());
            epoch1.close();

            PrefetchingIterator epoch2 = loader.prefetch(recording(ImageIterators.evaluation(withBad, p, 3), readers), 2);
            RuntimeException actual = assertTimeoutPreemptively(LIMIT, () -> assertThrows(RuntimeException.class, () -> drain(epoch2)));
            assertEquals(expected.getClass(), actual.getClass());
            assertEquals(expected.getMessage(), actual.getMessage());
            assertThrows(RuntimeException.class, epoch2::hasNext, "the error stays, it does not turn into an empty epoch");
            epoch2.close(); // what Trainer does after a failed fit

            PrefetchingIterator epoch3 = loader.prefetch(recording(ImageIterators.evaluation(good, p, 3), readers), 2);
            assertSameBatches(drain(ImageIterators.evaluation(good, p, 3)), assertTimeoutPreemptively(LIMIT, () -> drain(epoch3)), "epoch 3");
        }
        assertEquals(1, readers.size(), "batches were read on " + readers);
        assertFalse(readers.iterator().next().isAlive());
    }

    @Test
    void closeMidEpochReturnsAndTheNextEpochStillReads() throws IOException {
        List<LabeledImage> images = images();
        RunConfig c = config();
        Preprocessing p = pre(c);
        LoaderThread loader = new LoaderThread();
        try (loader) {
            PrefetchingIterator it = loader.prefetch(ImageIterators.training(images, p, c, 7), 1);
            assertTrue(it.hasNext());
            it.next();
            assertTimeoutPreemptively(Duration.ofSeconds(30), it::close);
            assertFalse(it.hasNext());
            assertEquals(1, liveLoaderThreads(), "the run's loader thread lives on between epochs");
            assertEquals(4, assertTimeoutPreemptively(LIMIT, () -> drain(loader.prefetch(ImageIterators.training(images, p, c, 8), 1))).size());
        }
        assertEquals(0, liveLoaderThreads());
    }

    @Test
    void misuseFailsInsteadOfHanging() throws IOException {
        List<LabeledImage> images = images();
        RunConfig c = config();
        Preprocessing p = pre(c);
        LoaderThread loader = new LoaderThread();
        PrefetchingIterator first = loader.prefetch(ImageIterators.training(images, p, c, 7), 1);
        assertTrue(first.hasNext());
        // a second iterator while the first still reads: one thread cannot fill both queues
        PrefetchingIterator second = loader.prefetch(ImageIterators.training(images, p, c, 8), 1);
        IllegalStateException twice = assertThrows(IllegalStateException.class, second::hasNext);
        assertTrue(twice.getMessage().contains("close that one first"), twice.getMessage());

        // the loader closed under a reader: an error, not a hang or a silently short epoch
        first.next();
        assertTimeoutPreemptively(Duration.ofSeconds(30), loader::close);
        IllegalStateException closed = assertTimeoutPreemptively(LIMIT, () -> assertThrows(IllegalStateException.class, () -> drain(first)));
        assertTrue(closed.getMessage().contains("closed during the epoch"), closed.getMessage());
        assertThrows(IllegalStateException.class, () -> loader.prefetch(ImageIterators.training(images, p, c, 9), 1).hasNext());
        assertEquals(0, liveLoaderThreads());
    }
}
