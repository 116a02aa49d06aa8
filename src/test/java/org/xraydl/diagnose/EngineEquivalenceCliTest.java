package org.xraydl.diagnose;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.cli.CliRunner;
import org.xraydl.cli.CliRunner.Outcome;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.xraydl.diagnose.DiagnoseErrors.assertUserError;

/**
 * EngineEquivalence's mistakes a user can make (no torch here: the dumps are missing, partial or made up) end as the
 * CLI's do: one line naming the argument or file, exit status 2. None of these reaches the comparison itself.
 */
class EngineEquivalenceCliTest {

    private static Outcome equivalence(String... args) {
        return CliRunner.capture(() -> EngineEquivalence.run(args));
    }

    /** A case folder whose manifest has every field the run reads first; {@code without} left out. */
    private static Path caseWithManifest(Path data, String without) throws Exception {
        Path c = Files.createDirectories(data.resolve("real"));
        String fields = "\"case\": \"real\", \"batch\": 8, \"steps\": 5, \"lr\": 0.001, \"weight_decay\": 0.0001, \"size\": 96";
        fields = fields.replaceAll("\"" + without + "\": [^,]+(, )?", "");
        Files.writeString(c.resolve("manifest.json"), "{" + fields + "}");
        return c;
    }

    @Test
    void aMissingDataFolderIsOneLineNamingIt(@TempDir Path tmp) {
        Path missing = tmp.resolve("no-such-folder");
        assertUserError(equivalence("--data", missing.toString()), missing.toString(), "tools/torch_equivalence.py");
    }

    @Test
    void aDataFolderWithoutCasesIsOneLineNamingIt(@TempDir Path tmp) throws Exception {
        Files.createDirectories(tmp.resolve("real")); // a folder, but no manifest.json in it
        assertUserError(equivalence("--data", tmp.toString()), tmp.toString(), "manifest.json");
    }

    @Test
    void anUnknownOptionOrAMissingValueIsOneLineNamingIt(@TempDir Path tmp) {
        assertUserError(equivalence("--mod", "fast", "--data", tmp.toString()), "--mod");
        assertUserError(equivalence("--data", tmp.toString(), "--mode"), "--mode");
    }

    @Test
    void anUnknownModeIsOneLineNamingItAndTheChoices(@TempDir Path tmp) {
        assertUserError(equivalence("--data", tmp.toString(), "--mode", "fastest"), "--mode", "fastest", "fast, helpers, plain");
    }

    @Test
    void aMissingConfigFileIsOneLineNamingIt(@TempDir Path tmp) throws Exception {
        caseWithManifest(tmp, "none");
        Path missing = tmp.resolve("nope.yaml");
        assertUserError(equivalence("--data", tmp.toString(), "--config", missing.toString()), missing.toString(), "--config");
    }

    @Test
    void aMissingDumpFileIsOneLineNamingIt(@TempDir Path tmp) throws Exception {
        Path c = caseWithManifest(tmp, "none");
        assertUserError(equivalence("--data", tmp.toString()), c.resolve("class_weights.npy").toString(), "tools/torch_equivalence.py");
    }

    @Test
    void aManifestWithoutAFieldOrNotJsonIsOneLineNamingIt(@TempDir Path tmp) throws Exception {
        Path c = caseWithManifest(tmp, "steps");
        assertUserError(equivalence("--data", tmp.toString()), c.resolve("manifest.json").toString(), "'steps'");
        Files.writeString(c.resolve("manifest.json"), "{\"batch\": 8,");
        assertUserError(equivalence("--data", tmp.toString()), c.resolve("manifest.json").toString(), "JSON");
    }
}
