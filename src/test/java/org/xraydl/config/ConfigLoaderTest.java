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

    private static void assertOneLine(org.junit.jupiter.api.function.Executable ex, String expected) {
        UserError e = assertThrows(UserError.class, ex);
        assertTrue(e.getMessage().contains(expected), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }
}
