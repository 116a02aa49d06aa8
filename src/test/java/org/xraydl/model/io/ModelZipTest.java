package org.xraydl.model.io;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.TestData;
import org.xraydl.UserError;
import org.xraydl.config.RunConfig;
import org.xraydl.data.Preprocessing;
import org.xraydl.model.ModelFactory;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InvalidClassException;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Date;
import java.util.Enumeration;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelZipTest {
    /** Counts how often Java deserialization instantiated it. */
    static final class Tripwire implements Serializable {
        private static final long serialVersionUID = 1L;
        static final AtomicInteger READS = new AtomicInteger();

        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject();
            READS.incrementAndGet();
        }
    }

    @BeforeAll
    static void guardFirst() {
        // Surefire forks a JVM per test class: nothing has created an ObjectInputStream yet.
        assertTrue(DeserializationGuard.install(), "the serial filter factory can be installed in a fresh JVM");
    }

    @Test
    void aPreprocessorEntryIsRefusedBeforeAnythingIsDeserialised(@TempDir Path dir) throws Exception {
        Path good = bundle(dir);
        Tripwire.READS.set(0);
        for (Object payload : List.of(new Tripwire(), new Date(0))) {
            Path bad = withEntry(good, dir.resolve("bad-" + payload.getClass().getSimpleName() + ".zip"),
                    ModelSerializer.PREPROCESSOR_BIN, serialize(payload));
            UserError e = assertThrows(UserError.class, () -> ModelBundle.load(bad));
            assertOneLineNaming(e, bad, "'preprocessor.bin'");
            UserError w = assertThrows(UserError.class, () -> WeightFiles.load(bad));
            assertOneLineNaming(w, bad, "'preprocessor.bin'");
        }
        assertEquals(0, Tripwire.READS.get(), "the payload class was never instantiated");
    }

    @Test
    void theNestedSetBombIsRefusedAtOnce(@TempDir Path dir) throws Exception {
        Path bad = withEntry(bundle(dir), dir.resolve("bomb.zip"), ModelSerializer.PREPROCESSOR_BIN, serialize(nestedSetBomb(100)));
        UserError e = assertTimeoutPreemptively(Duration.ofSeconds(10),
                () -> assertThrows(UserError.class, () -> ModelBundle.load(bad)));
        assertOneLineNaming(e, bad, "'preprocessor.bin'");
    }

    @Test
    void unknownEntriesAreRefusedAndMissingWeightsAreNamed(@TempDir Path dir) throws Exception {
        Path good = bundle(dir);
        Path extra = withEntry(good, dir.resolve("extra.zip"), "notes.txt", "hello".getBytes());
        assertOneLineNaming(assertThrows(UserError.class, () -> ModelBundle.load(extra)), extra, "'notes.txt'");

        Path noWeights = without(good, dir.resolve("noweights.zip"), ModelZip.COEFFICIENTS);
        UserError e = assertThrows(UserError.class, () -> ModelBundle.load(noWeights));
        assertOneLineNaming(e, noWeights, "has no coefficients.bin");
        assertFalse(e.getMessage().contains("xraydl_preprocessing.json"), e.getMessage());
    }

    @Test
    void theGuardRejectsJavaObjectsAndTheBombOnTheReadingThreadOnly() throws Exception {
        byte[] tripwire = serialize(new Tripwire());
        byte[] bomb = serialize(nestedSetBomb(100));
        Tripwire.READS.set(0);
        assertThrows(InvalidClassException.class, () -> DeserializationGuard.whileReadingModelFile(() -> readObject(tripwire)));
        assertEquals(0, Tripwire.READS.get());
        assertTimeoutPreemptively(Duration.ofSeconds(10), () -> assertThrows(InvalidClassException.class,
                () -> DeserializationGuard.whileReadingModelFile(() -> readObject(bomb))));
        // Outside a model-file read the JVM's usual rules apply (Spark and others serialise too).
        readObject(tripwire);
        assertEquals(1, Tripwire.READS.get());
    }

    @Test
    void plainDl4jAndPipelineZipsStillLoadWithTheSameOutputs(@TempDir Path dir) throws Exception {
        RunConfig c = TestData.tinyConfig(Map.of());
        ComputationGraph net = ModelFactory.create(c, 2, null);
        Path plain = dir.resolve("plain.zip");
        ModelSerializer.writeModel(net, plain.toFile(), true);
        INDArray x = Nd4j.rand(DataType.FLOAT, 2, 3, 32, 32);
        assertEquals(net.outputSingle(x), WeightFiles.load(plain).outputSingle(x));
        try (ZipFile zip = ModelZip.open(plain, "model file")) {
            ComputationGraph back = ModelZip.restoreGraph(zip, true);
            assertEquals(net.params(), back.params());
            assertEquals(net.getUpdater().getStateViewArray(), back.getUpdater().getStateViewArray());
        }
    }

    private static Path bundle(Path dir) {
        RunConfig c = TestData.tinyConfig(Map.of());
        Path zip = dir.resolve("good.zip");
        if (!Files.exists(zip)) {
            new ModelBundle(ModelFactory.create(c, 2, null), Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA")), c, Map.of())
                    .save(zip, false);
        }
        return zip;
    }

    /** The classic deserialization "bomb": 2^depth HashSet hash computations from a few KB. */
    static Set<Object> nestedSetBomb(int depth) {
        Set<Object> root = new HashSet<>();
        Set<Object> s1 = root;
        Set<Object> s2 = new HashSet<>();
        for (int i = 0; i < depth; i++) {
            Set<Object> t1 = new HashSet<>();
            Set<Object> t2 = new HashSet<>();
            t1.add("x");
            s1.add(t1);
            s1.add(t2);
            s2.add(t1);
            s2.add(t2);
            s1 = t1;
            s2 = t2;
        }
        return root;
    }

    private static byte[] serialize(Object o) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        try (ObjectOutputStream out = new ObjectOutputStream(b)) {
            out.writeObject(o);
        }
        return b.toByteArray();
    }

    private static Object readObject(byte[] bytes) throws IOException {
        try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(bytes))) {
            return in.readObject();
        } catch (ClassNotFoundException e) {
            throw new IOException(e);
        }
    }

    private static Path withEntry(Path from, Path to, String name, byte[] content) throws IOException {
        copy(from, to, null, name, content);
        return to;
    }

    private static Path without(Path from, Path to, String dropped) throws IOException {
        copy(from, to, dropped, null, null);
        return to;
    }

    private static void copy(Path from, Path to, String dropped, String added, byte[] content) throws IOException {
        try (ZipFile in = new ZipFile(from.toFile()); ZipOutputStream out = new ZipOutputStream(Files.newOutputStream(to))) {
            Enumeration<? extends ZipEntry> entries = in.entries();
            while (entries.hasMoreElements()) {
                ZipEntry e = entries.nextElement();
                if (e.getName().equals(dropped)) {
                    continue;
                }
                out.putNextEntry(new ZipEntry(e.getName()));
                in.getInputStream(e).transferTo(out);
                out.closeEntry();
            }
            if (added != null) {
                out.putNextEntry(new ZipEntry(added));
                out.write(content);
                out.closeEntry();
            }
        }
    }

    private static void assertOneLineNaming(UserError e, Path file, String part) {
        assertTrue(e.getMessage().contains(file.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(part), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }
}
