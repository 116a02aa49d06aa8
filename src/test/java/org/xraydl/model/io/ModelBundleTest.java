package org.xraydl.model.io;

import org.xraydl.model.ModelFactory;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.TestData;
import org.xraydl.UserError;
import org.xraydl.config.RunConfig;
import org.xraydl.data.Preprocessing;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ModelBundleTest {

    @Test
    void saveAndLoadKeepOutputsLabelsPreprocessingAndConfig(@TempDir Path dir) throws Exception {
        RunConfig c = TestData.tinyConfig(Map.of());
        ComputationGraph net = ModelFactory.create(c, 2, null);
        Preprocessing pre = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
        Path zip = dir.resolve("m.zip");
        new ModelBundle(net, pre, c, Map.of("seed", 42)).save(zip, true);

        ModelBundle back = ModelBundle.load(zip);
        INDArray x = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 2, 3, 32, 32);
        assertEquals(net.outputSingle(x), back.network().outputSingle(x));
        assertEquals(pre, back.preprocessing());
        assertEquals(c, back.config());
        assertEquals(42, back.provenance().get("seed"));
        try (Stream<Path> files = Files.list(dir)) {
            assertEquals(List.of(zip), files.toList(), "no temp file left behind");
        }
    }

    @Test
    void missingCorruptAndForeignFilesGiveOneLineErrorsNamingTheFile(@TempDir Path dir) throws Exception {
        Path missing = dir.resolve("absent.zip");
        assertError(missing, "model file not found: " + missing);
        Path text = Files.writeString(dir.resolve("notes.zip"), "not a zip at all");
        assertError(text, "model file " + text + " is corrupt");

        RunConfig c = TestData.tinyConfig(Map.of());
        Path good = dir.resolve("good.zip");
        new ModelBundle(ModelFactory.create(c, 2, null), Preprocessing.of(c, List.of("A", "B")), c, Map.of()).save(good, false);
        byte[] bytes = Files.readAllBytes(good);
        Path truncated = Files.write(dir.resolve("truncated.zip"), java.util.Arrays.copyOf(bytes, bytes.length / 2));
        assertError(truncated, "truncated.zip");

        Path plainDl4j = dir.resolve("plain.zip");
        org.deeplearning4j.util.ModelSerializer.writeModel(ModelFactory.create(c, 2, null), plainDl4j.toFile(), false);
        assertError(plainDl4j, "was not written by this pipeline");
    }

    private static void assertError(Path file, String expected) {
        UserError e = assertThrows(UserError.class, () -> ModelBundle.load(file));
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }
}
