package org.xraydl.spark;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.dataset.DataSet;
import org.xraydl.TestData;
import org.xraydl.UserError;
import org.xraydl.cli.Main;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.data.ImageFolder;
import org.xraydl.data.ImageFolderScanner;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.Preprocessing;
import org.xraydl.train.Trainer;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The Spark engine's parts that need no running SparkContext: batching, executor-side decoding, master checks. */
class SparkEngineTest {
    private static final Path SAMPLE = TestData.sample().resolve("train");

    @TempDir
    Path tmp;

    private static RunConfig config(Map<String, Object> extra) {
        Map<String, Object> o = SparkTrainingTest.tiny(Path.of("unused"), "spark", "shared");
        o.putAll(extra);
        return ConfigLoader.load(null, o);
    }

    private static ImageFolder sample() {
        return ImageFolderScanner.scan(SAMPLE, "train", false, 10);
    }

    @Test
    void batchesAreSeededShuffledAndCapped() {
        List<LabeledImage> images = sample().images();
        RunConfig capped = config(Map.of("batchSize", 6, "maxBatchesPerEpoch", 2));
        List<PathBatch> b = SparkEngine.batches(images, capped, 1);
        assertEquals(2, b.size());
        assertEquals(List.of(6, 6), b.stream().map(PathBatch::size).toList());
        assertEquals(List.of(0, 1), b.stream().map(x -> x.index).toList());

        RunConfig all = config(Map.of("batchSize", 6, "maxBatchesPerEpoch", 0));
        List<PathBatch> full = SparkEngine.batches(images, all, 1);
        assertEquals(4, full.size()); // 20 images: 6 + 6 + 6 + 2
        assertEquals(2, full.get(3).size());
        Set<String> seen = new HashSet<>();
        full.forEach(x -> seen.addAll(Arrays.asList(x.uris)));
        assertEquals(images.size(), seen.size(), "every training image exactly once per epoch");
        for (PathBatch x : full) {
            for (int i = 0; i < x.size(); i++) {
                assertTrue(x.uris[i].toUpperCase().contains("/" + x.labels[i] + "/"), x.uris[i] + " labelled " + x.labels[i]);
            }
        }
        assertArrayEquals(full.get(0).uris, SparkEngine.batches(images, all, 1).get(0).uris, "same seed and epoch, same order");
        assertFalse(Arrays.equals(full.get(0).uris, SparkEngine.batches(images, all, 2).get(0).uris), "a new order every epoch");
    }

    @Test
    void executorsDecodeBatchesWithTheLocalPipelineAfterSerialisation() throws Exception {
        RunConfig c = config(Map.of());
        ImageFolder folder = sample();
        Preprocessing pre = Preprocessing.of(c, folder.labels());
        PathBatch batch = SparkEngine.batches(folder.images(), c, 1).get(0);

        DecodeBatch fn = roundTrip(new DecodeBatch(c, pre, 43));
        DataSet ds = fn.call(batch);
        assertArrayEquals(new long[]{8, 3, 32, 32}, ds.getFeatures().shape());
        assertArrayEquals(new long[]{8, 2}, ds.getLabels().shape());
        // ImageNet normalisation: centred values, not 0..255 pixels.
        double mean = ds.getFeatures().meanNumber().doubleValue();
        assertTrue(Math.abs(mean) < 3, "features not normalised, mean " + mean);
        assertTrue(ds.getFeatures().maxNumber().doubleValue() < 5);
        // Labels come from the files' class folders, in the saved label order.
        long pneumonia = Arrays.stream(batch.labels).filter("PNEUMONIA"::equals).count();
        assertEquals(pneumonia, Math.round(ds.getLabels().getColumn(pre.labels().indexOf("PNEUMONIA")).sumNumber().doubleValue()));

        // Augmentation is seeded per batch: the same batch decodes identically anywhere, another seed differs.
        assertEquals(ds.getFeatures(), roundTrip(new DecodeBatch(c, pre, 43)).call(batch).getFeatures());
        assertNotEquals(ds.getFeatures(), new DecodeBatch(c, pre, 44).call(batch).getFeatures());
    }

    @Test
    void anImageMissingOnAnExecutorIsAClearError() throws Exception {
        RunConfig c = config(Map.of());
        ImageFolder folder = sample();
        PathBatch batch = SparkEngine.batches(folder.images(), c, 1).get(0);
        batch.uris[3] = tmp.resolve("NORMAL/gone.jpeg").toUri().toString();
        UserError e = assertThrows(UserError.class,
                () -> new DecodeBatch(c, Preprocessing.of(c, folder.labels()), 1).call(batch));
        assertTrue(e.getMessage().contains("gone.jpeg") && e.getMessage().contains("same path on the driver and on every executor"),
                e.getMessage());
    }

    @Test
    void anUnreachableStandaloneMasterFailsFastWithOneLine() throws Exception {
        int port = closedPort();
        String master = "spark://127.0.0.1:" + port;
        UserError e = assertThrows(UserError.class, () -> Trainer.engine(config(Map.of("sparkMaster", master))));
        assertTrue(e.getMessage().startsWith("Spark master " + master + " is not reachable"), e.getMessage());
        assertTrue(e.getMessage().contains("connection refused"), e.getMessage());

        UserError unknown = assertThrows(UserError.class,
                () -> Trainer.engine(config(Map.of("sparkMaster", "spark://no-such-host.invalid:7077"))));
        assertTrue(unknown.getMessage().contains("no-such-host.invalid:7077 unknown host"), unknown.getMessage());
    }

    @Test
    void theCliReportsAnUnreachableMasterBeforeCreatingARunFolder() throws Exception {
        Path out = tmp.resolve("run");
        String master = "spark://127.0.0.1:" + closedPort();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        PrintStream old = System.err;
        int code;
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            code = Main.run("train", "--engine", "spark", "--master", master, "--data", SAMPLE.toString(),
                    "--out", out.toString(), "--no-progress");
        } finally {
            System.setErr(old);
        }
        String text = err.toString(StandardCharsets.UTF_8).strip();
        assertEquals(2, code, text);
        assertEquals(1, text.lines().count(), text);
        assertTrue(text.startsWith("error: Spark master " + master + " is not reachable"), text);
        assertFalse(Files.exists(out), "a run folder was created for a run that cannot start");
    }

    @Test
    void badMasterUrlsAreRejectedWithoutStartingSpark() {
        assertTrue(assertThrows(UserError.class, () -> Trainer.engine(config(Map.of("sparkMaster", "local[two]"))))
                .getMessage().startsWith("invalid Spark master 'local[two]'"));
        assertTrue(assertThrows(UserError.class, () -> Trainer.engine(config(Map.of("sparkMaster", "spark://host:notaport"))))
                .getMessage().contains("is not a port number"));
        // This build bundles no YARN client: that is spark-submit's job.
        assertTrue(assertThrows(UserError.class, () -> Trainer.engine(config(Map.of("sparkMaster", "yarn"))))
                .getMessage().contains("spark-submit --master yarn"));
        assertEquals("spark(averaging, local[4])",
                Trainer.engine(config(Map.of("sparkMaster", "local[4]", "trainingMaster", "averaging"))).name());
    }

    @Test
    void gradientSharingGivesExecutorsTheirOwnUdpPorts() {
        SplitPortSupplier ports = new SplitPortSupplier(40123, 40124);
        assertEquals(40123, ports.getPort(), "no SparkEnv: the driver");
        assertEquals(40123, ports.portFor("driver"), "local[N] executors live in the driver JVM");
        assertEquals(40124, ports.portFor("0"));
        assertEquals(40131, ports.portFor("7"));
        Set<Integer> distinct = new HashSet<>();
        for (int i = 0; i < 50; i++) {
            distinct.add(ports.portFor(String.valueOf(i)));
        }
        assertEquals(50, distinct.size());
        assertFalse(distinct.contains(40123));
    }

    private static int closedPort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @SuppressWarnings("unchecked")
    private static <T> T roundTrip(T o) throws Exception {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(bytes)) {
            out.writeObject(o);
        }
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes.toByteArray()))) {
            return (T) in.readObject();
        }
    }
}
