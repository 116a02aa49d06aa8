package org.xraydl.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.dataset.DataSet;
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
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The background loader hands out exactly the synchronous iterator's batches, fails loudly, and leaves no thread behind. */
class PrefetchingIteratorTest {
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

    private static List<DataSet> drain(DataSetIterator it) {
        List<DataSet> out = new ArrayList<>();
        while (it.hasNext()) {
            out.add(it.next());
        }
        return out;
    }

    private static long loaderThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith(PrefetchingIterator.THREAD_PREFIX)).count();
    }

    @Test
    void sameBatchesInTheSameOrderAsTheSynchronousIterator() throws IOException {
        List<LabeledImage> images = images();
        RunConfig c = config();
        Preprocessing p = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
        List<DataSet> sync = drain(ImageIterators.training(images, p, c, 7));
        PrefetchingIterator prefetching = new PrefetchingIterator(ImageIterators.training(images, p, c, 7), 2);
        List<DataSet> async = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> drain(prefetching));

        assertEquals(4, sync.size()); // 10 images in batches of 3: 3 + 3 + 3 + 1
        assertEquals(sync.size(), async.size());
        for (int i = 0; i < sync.size(); i++) {
            assertEquals(sync.get(i).getFeatures(), async.get(i).getFeatures(), "features of batch " + i);
            assertEquals(sync.get(i).getLabels(), async.get(i).getLabels(), "labels of batch " + i);
        }
        // the comparison can fail: another epoch seed gives other crops
        List<DataSet> otherSeed = drain(ImageIterators.training(images, p, c, 8));
        assertNotEquals(sync.get(0).getFeatures(), otherSeed.get(0).getFeatures());
        assertEquals(0, loaderThreads(), "loader thread still alive after the epoch");

        // reset() starts a new pass over the same data
        prefetching.reset();
        assertEquals(sync.size(), drain(prefetching).size());
        assertEquals(0, loaderThreads());
    }

    @Test
    void undecodableFileFailsWithTheSynchronousErrorAndNoThreadLeft() throws IOException {
        List<LabeledImage> images = new ArrayList<>(images());
        Path bad = tmp.resolve("PNEUMONIA").resolve("zz-corrupt.jpeg");
        Files.write(bad, new byte[]{1, 2, 3, 4, 5, 6, 7, 8});
        images.add(new LabeledImage(bad, "PNEUMONIA", "zz"));
        RunConfig c = TestData.tinyConfig(Map.of("batchSize", 3, "augment", false));
        Preprocessing p = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
        // unshuffled evaluation order puts the bad file in the last batch, after good ones
        RuntimeException expected = assertThrows(RuntimeException.class, () -> drain(ImageIterators.evaluation(images, p, 3)));

        PrefetchingIterator it = new PrefetchingIterator(ImageIterators.evaluation(images, p, 3), 2);
        RuntimeException actual = assertTimeoutPreemptively(Duration.ofSeconds(60),
                () -> assertThrows(RuntimeException.class, () -> drain(it)));
        assertEquals(expected.getClass(), actual.getClass());
        assertEquals(expected.getMessage(), actual.getMessage());
        assertThrows(RuntimeException.class, it::hasNext, "the error stays, it does not turn into an empty epoch");
        assertEquals(0, loaderThreads(), "loader thread still alive after the error");
    }

    @Test
    void closeMidEpochStopsTheThread() throws IOException {
        List<LabeledImage> images = images();
        RunConfig c = config();
        Preprocessing p = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
        PrefetchingIterator it = new PrefetchingIterator(ImageIterators.training(images, p, c, 7), 1);
        assertTrue(it.hasNext());
        it.next();
        assertTimeoutPreemptively(Duration.ofSeconds(30), it::close);
        assertEquals(0, loaderThreads());
        assertFalse(it.hasNext());
    }
}
