package org.xraydl.train;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.run.RunDirectory;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** A run that skipped an unreadable image (--skip-bad) still counts it in its reports after --resume. */
class ResumeSkippedCountTest {

    private static RunConfig config(Path data, Path run, int epochs) {
        return TestData.tinyConfig(Map.of("data", data.toString(), "out", run.toString(), "epochs", epochs,
                "skipBad", true, "maxBatchesPerEpoch", 1, "seed", 5));
    }

    @Test
    void theSkippedCountSurvivesAResume(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("data");
        TestData.copySample(data, 12, "NORMAL", "PNEUMONIA");
        Files.write(data.resolve("NORMAL/broken.jpeg"), new byte[0]); // the one unreadable image
        Path run = tmp.resolve("run");

        Trainer.train(config(data, run, 1), Trainer.Options.quiet());
        assertCounts(run, 1, "after the first epoch");

        Trainer.train(config(data, run, 2), new Trainer.Options(false, List.of(), List.of(), run.resolve(RunDirectory.LAST)));
        assertEquals(3, Files.readAllLines(run.resolve(RunDirectory.HISTORY)).size(), "header + epochs 1 and 2");
        assertCounts(run, 1, "after the resumed second epoch");
    }

    private static void assertCounts(Path run, int expected, String when) throws Exception {
        JsonNode metrics = ConfigLoader.JSON.readTree(run.resolve(RunDirectory.METRICS).toFile());
        assertEquals(expected, metrics.get("skipped_unreadable").asInt(), "metrics.json " + when);
        JsonNode provenance = ConfigLoader.JSON.readTree(run.resolve(RunDirectory.PROVENANCE).toFile());
        assertEquals(expected, provenance.get("skippedUnreadable").asInt(), "provenance.json " + when);
        Object inZip = ModelBundle.load(run.resolve(RunDirectory.LAST)).provenance().get("skippedUnreadable");
        assertEquals(expected, ((Number) inZip).intValue(), "last.zip's provenance " + when);
    }
}
