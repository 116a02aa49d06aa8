package org.xraydl.bench;

import com.fasterxml.jackson.databind.JsonNode;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.cli.Main;
import org.xraydl.config.ConfigLoader;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The benchmark goal end to end on tiny workloads (compact DenseNet, 32 px, batch 2, one timed iteration). */
class BenchmarkCommandTest {
    private static final String[] TINY = {"--model", "densenet", "--size", "32", "--batch", "2",
            "--seconds", "0", "--warmup", "1", "--max-iterations", "1", "--in-process"};

    @TempDir
    Path tmp;

    @Test
    void everyStepPrintsAndWritesImagesPerSecond() throws IOException {
        for (Step step : Step.values()) {
            Path json = tmp.resolve(step.id() + ".json");
            assertEquals(0, Main.run(concat(TINY, "--step", step.id(), "--json", json.toString())), step.id());
            JsonNode r = ConfigLoader.JSON.readTree(json.toFile());
            assertResult(r, "densenet", 32, 2, step.id());
        }
    }

    @Test
    void theFullStepReportsItsNd4jOpCallsAndTheFastBatchNormCutsThem() throws IOException {
        Path fast = tmp.resolve("fast.json");
        Path plain = tmp.resolve("plain.json");
        assertEquals(0, Main.run(concat(TINY, "--step", "full", "--json", fast.toString())));
        assertEquals(0, Main.run(concat(TINY, "--step", "full", "--fast-batch-norm", "false", "--json", plain.toString())));
        long withFast = ConfigLoader.JSON.readTree(fast.toFile()).get("settings").get("nd4j_op_calls_per_iteration").asLong();
        long withDl4j = ConfigLoader.JSON.readTree(plain.toFile()).get("settings").get("nd4j_op_calls_per_iteration").asLong();
        // DL4J's batch-norm layer with its oneDNN helper makes 18 op calls a training step, FastBatchNormalizationLayer 12
        // (6 with its element-wise passes on oneDNN's primitives, kernels/DirectEltwise: not ND4J ops)
        long batchNorms = Arrays.stream(BenchNets.build(new Workload("densenet", 32, 2, Step.FULL), 0).getLayers())
                .filter(l -> l instanceof BatchNormalization).count();
        assertTrue(batchNorms > 0);
        assertTrue(withFast > 0, "op calls " + withFast);
        assertTrue(withDl4j - withFast >= 6L * batchNorms, withDl4j + " vs " + withFast + " with " + batchNorms + " batch norms");
    }

    @Test
    void matrixWritesTableJsonAndChart() throws IOException {
        Path out = tmp.resolve("matrix");
        assertEquals(0, Main.run("benchmark", "--models", "densenet", "--sizes", "32", "--steps", "forward,full",
                "--batch", "2", "--seconds", "0", "--warmup", "0", "--max-iterations", "1", "--in-process",
                "--out", out.toString()));
        JsonNode doc = ConfigLoader.JSON.readTree(out.resolve(MatrixBenchmark.JSON).toFile());
        assertEquals(2, doc.get("results").size());
        assertResult(doc.get("results").get(0), "densenet", 32, 2, "forward");
        assertResult(doc.get("results").get(1), "densenet", 32, 2, "full");
        assertTrue(doc.get("load_average").isNumber());
        assertPng(out.resolve(MatrixBenchmark.PNG));
    }

    @Test
    void matrixCellRunsInItsOwnJvm() throws IOException {
        Path out = tmp.resolve("forked");
        assertEquals(0, Main.run("benchmark", "--models", "densenet", "--sizes", "32", "--steps", "forward",
                "--batch", "2", "--seconds", "0", "--warmup", "0", "--max-iterations", "1", "--omp-wait-policy", "passive",
                "--out", out.toString()));
        JsonNode doc = ConfigLoader.JSON.readTree(out.resolve(MatrixBenchmark.JSON).toFile());
        assertTrue(doc.get("matrix").get("one_jvm_per_cell").asBoolean());
        assertEquals("PASSIVE", doc.get("matrix").get("child_env").get("OMP_WAIT_POLICY").asText());
        assertResult(doc.get("results").get(0), "densenet", 32, 2, "forward");
        assertTrue(Files.isRegularFile(out.resolve("cells").resolve("densenet-32-forward.json")));
    }

    @Test
    void epochStepTimesTheTrainingJobOnAGivenSplit() throws IOException {
        Path data = tmp.resolve("data");
        org.xraydl.TestData.copySample(data, 5, "NORMAL", "PNEUMONIA");
        // a hand-made partition: the first 3 files of each class train, the other 2 validate
        StringBuilder split = new StringBuilder("file,label,patient,side\n");
        int train = 0;
        for (String cls : List.of("NORMAL", "PNEUMONIA")) {
            List<Path> files;
            try (var s = Files.list(data.resolve(cls))) {
                files = s.sorted().toList();
            }
            for (int i = 0; i < files.size(); i++) {
                String side = i < 3 ? "train" : "validation";
                train += i < 3 ? 1 : 0;
                split.append(files.get(i)).append(',').append(cls).append(",p").append(cls).append(i).append(',').append(side).append('\n');
            }
        }
        Path splitCsv = Files.writeString(tmp.resolve("split.csv"), split.toString());
        Path json = tmp.resolve("epoch.json");
        assertEquals(0, Main.run("benchmark", "--step", "epoch", "--data", data.toString(), "--split", splitCsv.toString(),
                "--model", "densenet", "--size", "32", "--batch", "4", "--epochs", "2", "--growth", "4", "--blocks", "1,1",
                "--init-features", "8", "--json", json.toString()));
        JsonNode r = ConfigLoader.JSON.readTree(json.toFile());
        assertEquals("epoch", r.get("step").asText());
        assertEquals(2, r.get("epochs").asInt());
        assertEquals(6, train);
        assertEquals(train, r.get("train_images").asInt());
        assertEquals(4, r.get("val_images").asInt());
        assertEquals(8, r.get("eval_batch").asInt());
        assertEquals(2, r.get("per_epoch").size());
        for (JsonNode e : r.get("per_epoch")) {
            assertEquals(train, e.get("images").asInt());
            double s = e.get("train_seconds").asDouble();
            assertTrue(s > 0 && Double.isFinite(s));
            assertEquals(train / s, e.get("img_per_s").asDouble(), 1e-6 * train / s);
            assertTrue(e.get("validation_seconds").asDouble() > 0);
            for (String stage : List.of("data_wait_s", "fit_s", "listeners_s", "validation_s", "checkpoint_s", "charts_s")) {
                assertTrue(e.get("stages").get(stage).asDouble() >= 0, stage);
            }
        }
        assertTrue(r.get("load_average_before").isNumber());
        assertEquals(32, r.get("settings").get("config").get("imageSize").asInt());
        assertEquals(4, r.get("settings").get("config").get("densenetGrowth").asInt());
    }

    @Test
    void workersModeWritesTimeVersusWorkers() throws IOException {
        Path out = tmp.resolve("workers");
        assertEquals(0, Main.run("benchmark", "--workers", "2", "--model", "densenet", "--size", "32", "--batch", "2",
                "--batches", "2", "--out", out.toString()));
        JsonNode doc = ConfigLoader.JSON.readTree(out.resolve(WorkersBenchmark.JSON).toFile());
        JsonNode points = doc.get("points");
        assertEquals(2, points.size());
        for (int i = 0; i < 2; i++) {
            assertEquals(i + 1, points.get(i).get("workers").asInt());
            double s = points.get(i).get("seconds_per_epoch").asDouble();
            assertTrue(s > 0 && Double.isFinite(s));
            assertTrue(points.get(i).get("img_per_s").asDouble() > 0);
        }
        assertTrue(points.get(1).get("engine").asText().startsWith("parallel-wrapper"));
        assertPng(out.resolve(WorkersBenchmark.PNG));
    }

    @Test
    void devicesModeSaysWhenThereIsNoGpuBackend() throws IOException {
        Path out = tmp.resolve("devices");
        assertEquals(0, Main.run("benchmark", "--devices", "--in-process", "--models", "densenet", "--size", "32",
                "--steps", "forward", "--batch", "2", "--seconds", "0", "--warmup", "0", "--max-iterations", "1",
                "--out", out.toString()));
        JsonNode doc = ConfigLoader.JSON.readTree(out.resolve(DevicesBenchmark.JSON).toFile());
        // Whether a GPU backend is there, read from the test class path itself: only -Pcuda adds nd4j-cuda jars.
        boolean gpu = Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .anyMatch(entry -> Path.of(entry).getFileName().toString().startsWith("nd4j-cuda"));
        assertEquals(gpu, doc.get("gpu_backend_present").asBoolean());
        if (!gpu) {
            assertTrue(doc.get("note").asText().contains("no GPU backend"), doc.get("note").asText());
            for (JsonNode r : doc.get("results")) {
                assertEquals("CPU", r.get("backend").asText()); // never a made-up GPU number
            }
        }
        assertResult(doc.get("results").get(0), "densenet", 32, 2, "forward");
        assertPng(out.resolve(DevicesBenchmark.PNG));
    }

    @Test
    void badArgumentsAreOneLineErrors() {
        assertTrue(oneLineError(concat(TINY, "--step", "backward")).contains("backward"));
        assertTrue(oneLineError("benchmark", "--model", "resnet", "--step", "forward").contains("resnet"));
        oneLineError("benchmark", "--step", "forward");
        oneLineError("benchmark", "--workers", "2", "--step", "forward");
    }

    /** Runs the CLI, checks exit code 2 and that standard error is exactly one line starting "error: "; returns it. */
    static String oneLineError(String... args) {
        PrintStream oldErr = System.err;
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int code;
        try {
            System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
            code = Main.run(args);
        } finally {
            System.setErr(oldErr);
        }
        String text = err.toString(StandardCharsets.UTF_8);
        oldErr.print(text);
        assertEquals(2, code, String.join(" ", args));
        assertEquals(1, text.lines().count(), "one line on standard error, got: " + text);
        assertTrue(text.startsWith("error: ") && text.endsWith("\n"), text);
        return text;
    }

    static void assertResult(JsonNode r, String model, int size, int batch, String step) {
        for (String key : List.of("model", "size", "batch", "step", "img_per_s", "ms_per_batch", "settings")) {
            assertTrue(r.has(key), "missing key " + key + " in " + r);
        }
        assertFalse(r.has("error"), () -> "cell failed: " + r.get("error"));
        assertEquals(model, r.get("model").asText());
        assertEquals(size, r.get("size").asInt());
        assertEquals(batch, r.get("batch").asInt());
        assertEquals(step, r.get("step").asText());
        double v = r.get("img_per_s").asDouble();
        assertTrue(v > 0 && Double.isFinite(v), "img_per_s " + v);
    }

    static void assertPng(Path png) throws IOException {
        assertTrue(Files.size(png) > 1000, png + " is too small");
        try (InputStream in = Files.newInputStream(png)) {
            assertArrayEquals(new byte[]{(byte) 0x89, 'P', 'N', 'G'}, in.readNBytes(4));
        }
    }

    private static String[] concat(String[] base, String... more) {
        String[] out = new String[base.length + more.length + 1];
        out[0] = "benchmark";
        System.arraycopy(base, 0, out, 1, base.length);
        System.arraycopy(more, 0, out, 1 + base.length, more.length);
        return out;
    }
}
