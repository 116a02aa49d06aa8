package org.xraydl.model.io;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.UserError;
import org.xraydl.config.RunConfig;
import org.xraydl.data.Preprocessing;
import org.xraydl.model.ModelFactory;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.zip.ZipFile;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Hand-edited configuration.json type ids: refused before DL4J resolves them; the original loads. */
class ConfigurationTypesTest {
    static final String RELU = "\"@class\" : \"org.nd4j.linalg.activations.impl.ActivationReLU\"";

    @Test
    void foreignClassNamesAreRefusedInOneLineAndTheOriginalLoads(@TempDir Path dir) throws Exception {
        RunConfig c = TestData.tinyConfig(Map.of());
        ComputationGraph net = ModelFactory.create(c, 2, null);
        Path good = dir.resolve("good.zip");
        new ModelBundle(net, Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA")), c, Map.of()).save(good, false);
        String json = entry(good, ModelZip.CONFIGURATION);
        assertTrue(json.contains(RELU), "the saved configuration has the type id this test edits");

        assertArrayEquals(net.params().toFloatVector(), ModelBundle.load(good).network().params().toFloatVector());
        assertArrayEquals(net.params().toFloatVector(), WeightFiles.load(good).params().toFloatVector());

        Map<String, String> edits = Map.of(
                "url", json.replaceFirst(RELU, "\"@class\" : \"java.net.URL\""),
                "script", json.replaceFirst(RELU, "\"@class\" : \"javax.script.ScriptEngineManager\""),
                // Jackson resolves the first of two "@class" keys, a JSON tree keeps the last.
                "duplicate", json.replaceFirst(RELU, "\"@class\" : \"javax.script.ScriptEngineManager\", " + RELU),
                // A generic type id: Jackson would resolve the parameter type as well.
                "generic", json.replaceFirst(RELU, "\"@class\" : \"org.nd4j.linalg.activations.impl.ActivationReLU<java.net.URL>\""),
                // A class name as a wrapper-object key, the other shape a Jackson type id can take.
                "wrapper", json.replaceFirst("\\{", "{ \"java.net.URL\" : { },"));
        Map<String, String> named = Map.of("url", "java.net.URL", "script", "javax.script.ScriptEngineManager",
                "duplicate", "javax.script.ScriptEngineManager", "generic", "ActivationReLU<java.net.URL>", "wrapper", "java.net.URL");
        for (Map.Entry<String, String> edit : edits.entrySet()) {
            Path bad = replace(good, dir.resolve(edit.getKey() + ".zip"), ModelZip.CONFIGURATION, edit.getValue());
            String expected = "configuration.json names the class '";
            UserError e = assertThrows(UserError.class, () -> ModelBundle.load(bad), edit.getKey());
            assertOneLine(e, bad, expected, named.get(edit.getKey()));
            UserError w = assertThrows(UserError.class, () -> WeightFiles.load(bad), edit.getKey());
            assertOneLine(w, bad, expected, named.get(edit.getKey()));
        }

        Path numeric = replace(good, dir.resolve("numeric.zip"), ModelZip.CONFIGURATION,
                json.replaceFirst(RELU, "\"@class\" : 42"));
        assertOneLine(assertThrows(UserError.class, () -> ModelBundle.load(numeric)), numeric, "non-text type id '@class'", "");
    }

    private static void assertOneLine(UserError e, Path file, String part, String className) {
        String m = e.getMessage();
        assertTrue(m.contains(file.toString()), m);
        assertTrue(m.contains(part), m);
        assertTrue(m.contains(className), m);
        assertFalse(m.contains("\n"), m);
    }

    private static String entry(Path zip, String name) throws IOException {
        try (ZipFile z = new ZipFile(zip.toFile())) {
            return new String(z.getInputStream(z.getEntry(name)).readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static Path replace(Path from, Path to, String name, String content) throws IOException {
        return ZipEdits.replace(from, to, name, content.getBytes(StandardCharsets.UTF_8));
    }
}
