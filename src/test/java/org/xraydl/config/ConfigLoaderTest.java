package org.xraydl.config;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.UserError;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ConfigLoaderTest {

    @Test
    void fileOverridesDefaultsAndCommandLineOverridesFile(@TempDir Path dir) throws Exception {
        Path yaml = Files.writeString(dir.resolve("c.yaml"), "epochs: 7\nbatchSize: 4\n");
        RunConfig c = ConfigLoader.load(yaml, Map.of("batchSize", 2));
        assertEquals(7, c.epochs());
        assertEquals(2, c.batchSize());
        assertEquals(42, c.seed(), "untouched keys keep the bundled default");
    }

    @Test
    void shippedConfigsLoadAndSayWhatThePaperUsed() {
        Path configs = TestData.projectDir().resolve("config");
        RunConfig vgg = ConfigLoader.load(configs.resolve("vgg16.yaml"), Map.of());
        assertEquals("vgg16", vgg.model());
        assertEquals(224, vgg.imageSize());
        assertEquals(List.of(512), vgg.headHidden());
        RunConfig dense = ConfigLoader.load(configs.resolve("densenet121.yaml"), Map.of());
        assertEquals("densenet121", dense.model());
        assertEquals(List.of(512, 256), dense.headHidden());
        assertTrue(dense.trunkFrozen());
        RunConfig def = ConfigLoader.load(configs.resolve("default.yaml"), Map.of());
        assertEquals("data/chest-xray-sample", def.data());
        assertFalse(def.trunkFrozen(), "weights none trains every layer");
    }

    @Test
    void everyShippedConfigLoadsAndNamesItsRunAfterItsFile() throws Exception {
        // A renamed or copied recipe that kept the old name would write into another recipe's run folder.
        List<Path> files;
        try (var s = Files.list(TestData.projectDir().resolve("config"))) {
            files = s.filter(p -> p.getFileName().toString().endsWith(".yaml")).sorted().toList();
        }
        assertTrue(files.size() >= 5, "config/ holds the shipped recipes, found " + files);
        for (Path f : files) {
            RunConfig c = ConfigLoader.load(f, Map.of());
            assertEquals(f.getFileName().toString().replaceFirst("\\.yaml$", ""), c.name(), f.toString());
        }
        RunConfig full = ConfigLoader.load(TestData.projectDir().resolve("config/full-cpu.yaml"), Map.of());
        assertEquals("none", full.weights(), "the README's CPU recipe trains from scratch (no model hub here)");
        assertEquals("../shared/datasets/chest-xray", full.data());
    }

    @Test
    void roundTripsThroughYamlAndJson() throws Exception {
        RunConfig c = ConfigLoader.load(null, Map.of("epochs", 2));
        Path dir = Files.createTempDirectory("cfg");
        Path yaml = Files.writeString(dir.resolve("snap.yaml"), ConfigLoader.toYaml(c));
        assertEquals(c, ConfigLoader.load(yaml, Map.of()));
        assertEquals(c, ConfigLoader.fromJson(ConfigLoader.JSON.writeValueAsString(c)));
    }

    @Test
    void unknownKeysAndBadValuesGiveOneLineErrors(@TempDir Path dir) throws Exception {
        Path typo = Files.writeString(dir.resolve("typo.yaml"), "epocs: 3\n");
        assertOneLine(() -> ConfigLoader.load(typo, Map.of()), "unknown config key 'epocs' in " + typo);
        assertOneLine(() -> ConfigLoader.load(null, Map.of("batchSize", 0)), "batchSize must be at least 1");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("classWeights", "heavy")), "classWeights must be none or balanced");
        assertOneLine(() -> ConfigLoader.load(dir.resolve("absent.yaml"), Map.of()), "config file not found");
        Path list = Files.writeString(dir.resolve("list.yaml"), "- a\n- b\n");
        assertOneLine(() -> ConfigLoader.load(list, Map.of()), "is not a YAML mapping");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("epochs", "many")), "invalid configuration");
    }

    @Test
    void decodeThreadsIsValidatedInOneLineAndZeroMeansOnePerProcessor() throws Exception {
        assertOneLine(() -> ConfigLoader.load(null, Map.of("decodeThreads", -1)), "decodeThreads must be 0 (one per available processor) or 1 to 64");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("decodeThreads", 65)), "got 65");
        RunConfig d = ConfigLoader.load(null, Map.of());
        assertEquals(0, d.decodeThreads(), "the bundled default");
        assertEquals(Runtime.getRuntime().availableProcessors(), d.decodeThreadCount());
        assertEquals(3, ConfigLoader.load(null, Map.of("decodeThreads", 3)).decodeThreadCount());
        // A config stored in a model zip before the key existed reads as 0: one per processor.
        com.fasterxml.jackson.databind.node.ObjectNode stored = ConfigLoader.JSON.valueToTree(ConfigLoader.load(null, Map.of("decodeThreads", 2)));
        stored.remove("decodeThreads");
        assertEquals(0, ConfigLoader.fromJson(stored.toString()).decodeThreads());
    }

    @Test
    void optimizerAndScheduleKeysAreValidatedInOneLine() {
        assertOneLine(() -> ConfigLoader.load(null, Map.of("optimizer", "rmsprop")), "optimizer must be adam, adamw or sgd");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("weightDecay", -1e-4)), "weightDecay must be >= 0");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("optimizer", "sgd", "momentum", 1.0)), "momentum must be in [0, 1)");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("lrSchedule", "linear")), "lrSchedule must be constant, onecycle, cosine or step");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("lrSchedule", "cosine", "epochs", 4, "warmupEpochs", 4)),
                "warmupEpochs must be >= 0 and shorter than the run (4 epochs)");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("lrSchedule", "onecycle", "learningRate", 0.01, "lrMax", 0.005)),
                "lrSchedule onecycle needs lrMax > learningRate");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("lrSchedule", "step", "stepGamma", 1.5)), "stepGamma must be in (0, 1]");
        // The defaults keep the original recipe, and a chosen recipe is part of the run's config snapshot.
        RunConfig d = ConfigLoader.load(null, Map.of());
        assertEquals("adam", d.optimizer());
        assertEquals("constant", d.lrSchedule());
        assertEquals(0.0, d.weightDecay());
        RunConfig r = ConfigLoader.load(null, Map.of("optimizer", "adamw", "weightDecay", 1e-4, "lrSchedule", "onecycle",
                "learningRate", 0.001, "lrMax", 0.002));
        String yaml = ConfigLoader.toYaml(r);
        assertTrue(yaml.contains("optimizer: \"adamw\"") || yaml.contains("optimizer: adamw"), yaml);
        assertTrue(yaml.contains("lrMax: 0.002"), yaml);
    }

    @Test
    void emaDecayIsOffByDefaultValidatedInOneLineAndPartOfTheSnapshot() throws Exception {
        assertEquals(0.0, ConfigLoader.load(null, Map.of()).emaDecay(), "off unless asked for");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("emaDecay", 1.5)), "emaDecay must be in [0, 1) (0 = off; e.g. 0.999");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("emaDecay", 1)), "got 1.0");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("emaDecay", -0.1)), "got -0.1");
        RunConfig c = ConfigLoader.load(null, Map.of("emaDecay", 0.999));
        assertEquals(0.999, c.emaDecay());
        assertTrue(ConfigLoader.toYaml(c).contains("emaDecay: 0.999"), ConfigLoader.toYaml(c));
        assertEquals(c, ConfigLoader.fromJson(ConfigLoader.JSON.writeValueAsString(c)));
        // A configuration stored before the key existed (in a run folder or a model zip) reads as off.
        String old = ConfigLoader.JSON.writeValueAsString(c).replaceAll("\\s*\"emaDecay\"\\s*:\\s*0\\.999\\s*,", "");
        assertFalse(old.contains("emaDecay"), old);
        assertEquals(0.0, ConfigLoader.fromJson(old).emaDecay());
    }

    @Test
    void resamplingIsOpencvByDefaultValidatedInOneLineAndPartOfTheSnapshot() throws Exception {
        assertEquals("opencv", ConfigLoader.load(null, Map.of()).resampling(), "today's filters unless asked for");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("resampling", "bicubic")),
                "invalid configuration: resampling must be opencv (OpenCV INTER_LINEAR crop, INTER_AREA evaluation) or antialias");
        assertOneLine(() -> ConfigLoader.load(null, Map.of("resampling", "ANTIALIAS")), "got ANTIALIAS");
        RunConfig c = ConfigLoader.load(null, Map.of("resampling", "antialias"));
        assertEquals("antialias", c.resampling());
        assertTrue(ConfigLoader.toYaml(c).contains("resampling: \"antialias\"") || ConfigLoader.toYaml(c).contains("resampling: antialias"),
                ConfigLoader.toYaml(c));
        assertEquals(c, ConfigLoader.fromJson(ConfigLoader.JSON.writeValueAsString(c)));
        // A configuration stored in a model zip before the key existed reads as opencv, so it equals the run's own
        // config.yaml (defaults merged) and an old checkpoint still resumes.
        com.fasterxml.jackson.databind.node.ObjectNode stored = ConfigLoader.JSON.valueToTree(ConfigLoader.load(null, Map.of()));
        stored.remove("resampling");
        RunConfig old = ConfigLoader.fromJson(stored.toString());
        assertEquals("opencv", old.resampling());
        assertEquals(ConfigLoader.load(null, Map.of()), old);
    }

    @Test
    void brightnessAndContrastAreOffByDefaultValidatedInOneLineAndPartOfTheSnapshot() throws Exception {
        RunConfig d = ConfigLoader.load(null, Map.of());
        assertEquals(0.0, d.brightness(), "off unless asked for");
        assertEquals(0.0, d.contrast(), "off unless asked for");
        for (String key : List.of("brightness", "contrast")) {
            assertOneLine(() -> ConfigLoader.load(null, Map.of(key, 1.5)),
                    "invalid configuration: " + key + " must be in [0, 1), got 1.5 (0 = off; e.g. 0.2)");
            assertOneLine(() -> ConfigLoader.load(null, Map.of(key, 1)), key + " must be in [0, 1), got 1.0");
            assertOneLine(() -> ConfigLoader.load(null, Map.of(key, -0.1)), key + " must be in [0, 1), got -0.1");
            assertOneLine(() -> ConfigLoader.load(null, Map.of(key, Double.NaN)), key + " must be in [0, 1), got NaN");
            assertOneLine(() -> ConfigLoader.load(null, Map.of(key, Double.POSITIVE_INFINITY)), key + " must be in [0, 1), got Infinity");
        }
        RunConfig c = ConfigLoader.load(null, Map.of("brightness", 0.2, "contrast", 0.3));
        assertEquals(0.2, c.brightness());
        assertEquals(0.3, c.contrast());
        String yaml = ConfigLoader.toYaml(c);
        assertTrue(yaml.contains("brightness: 0.2") && yaml.contains("contrast: 0.3"), yaml);
        assertEquals(c, ConfigLoader.fromJson(ConfigLoader.JSON.writeValueAsString(c)));
        // A configuration stored before the keys existed (run folder or model zip) reads as off.
        com.fasterxml.jackson.databind.node.ObjectNode stored = ConfigLoader.JSON.valueToTree(d);
        stored.remove("brightness");
        stored.remove("contrast");
        assertEquals(d, ConfigLoader.fromJson(stored.toString()));
    }

    private static void assertOneLine(org.junit.jupiter.api.function.Executable ex, String expected) {
        UserError e = assertThrows(UserError.class, ex);
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }
}
