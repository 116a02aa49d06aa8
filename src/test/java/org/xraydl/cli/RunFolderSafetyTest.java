package org.xraydl.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.config.ConfigLoader;
import org.xraydl.run.RunLock;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.xraydl.cli.EndToEndTest.TINY;
import static org.xraydl.cli.CliRunner.cli;
import static org.xraydl.cli.EndToEndTest.concat;

/**
 * A run folder belongs to one training at a time (an OS lock), a new run never writes into a used
 * folder, and --resume keeps the run's data, split, model and preprocessing.
 */
class RunFolderSafetyTest {

    private static String[] train(Path data, Path out, String... more) {
        return concat(concat(new String[]{"train", "--data", data.toString(), "--out", out.toString(), "--epochs", "1",
                "--max-batches", "2", "--max-images-per-class", "30"}, TINY), more);
    }

    private static void assertOneLineError(CliRunner.Outcome o, String... mustContain) {
        assertEquals(2, o.code(), o.out() + o.err());
        assertEquals(1, o.err().strip().lines().count(), o.err());
        for (String s : mustContain) {
            assertTrue(o.err().contains(s), "'" + s + "' not in: " + o.err());
        }
    }

    @Test
    void resumeRefusesEveryFlagThatChangesDataSplitModelOrPreprocessingAndAllowsMoreEpochs(@TempDir Path tmp) throws Exception {
        Path data = tmp.resolve("data");
        TestData.copySample(data, 30, "NORMAL", "PNEUMONIA");
        Path run = tmp.resolve("run");
        CliRunner.Outcome first = cli(train(data, run, "--seed", "5"));
        assertEquals(0, first.code(), first.err());
        byte[] split = Files.readAllBytes(run.resolve("split.csv"));
        String last = run.resolve("last.zip").toString();

        String[][] refused = {
                {"--seed", "7"}, {"--set", "valFraction=0.3"}, {"--data", tmp.resolve("other").toString()},
                {"--image-size", "64"}, {"--model", "vgg16"}, {"--batch", "4"}, {"--max-images-per-class", "20"},
                {"--lr", "0.1"}, {"--no-augment"}, {"--set", "densenetGrowth=6"}};
        for (String[] flag : refused) {
            CliRunner.Outcome o = cli(concat(new String[]{"train", "--resume", last, "--epochs", "2"}, flag));
            String name = flag[0].equals("--set") ? "--set " + flag[1].substring(0, flag[1].indexOf('=')) : flag[0];
            assertOneLineError(o, "--resume continues", name + " (run ");
        }
        assertOneLineError(cli("train", "--resume", last, "--config", "config/default.yaml"), "--config does not apply with --resume");
        assertOneLineError(cli("train", "--resume", run.resolve("best.zip").toString()), "--resume takes a run's last.zip");
        assertEquals(2, Files.readAllLines(run.resolve("history.csv")).size(), "refused resumes trained nothing");

        // New images in the data folder must not reach the resumed run: it trains on split.csv's images.
        TestData.copySample(tmp.resolve("more"), 40, "NORMAL");
        try (var extra = Files.list(tmp.resolve("more/NORMAL"))) {
            for (Path f : extra.toList()) {
                if (!Files.exists(data.resolve("NORMAL").resolve(f.getFileName()))) {
                    // "0-" sorts first: a re-scan capped at 30 per class would take these.
                    Files.copy(f, data.resolve("NORMAL").resolve("0-" + f.getFileName()));
                }
            }
        }
        var countsBefore = ConfigLoader.JSON.readTree(run.resolve("provenance.json").toFile()).get("trainCounts");
        CliRunner.Outcome more = cli("train", "--resume", last, "--epochs", "2", "--seed", "5", "--no-progress");
        assertEquals(0, more.code(), more.err());
        assertEquals(3, Files.readAllLines(run.resolve("history.csv")).size(), "header + two epochs");
        assertArrayEquals(split, Files.readAllBytes(run.resolve("split.csv")), "split.csv is unchanged");
        assertEquals(countsBefore, ConfigLoader.JSON.readTree(run.resolve("provenance.json").toFile()).get("trainCounts"));
        assertTrue(Files.readString(run.resolve("config.yaml")).contains("epochs: 2"), "config.yaml records the new total");
    }

    @Test
    void aSecondRunIntoTheSameFolderStopsWithOneLineWhileTheFirstHoldsTheLock(@TempDir Path tmp) throws Exception {
        Path data = TestData.sample();
        Path run = tmp.resolve("shared");
        CountDownLatch firstEpochDone = new CountDownLatch(1);
        CountDownLatch secondTried = new CountDownLatch(1);
        // The first run waits after its first epoch (lock held, folder in use) until the second has tried.
        CompletableFuture<Integer> first = CompletableFuture.supplyAsync(() -> {
            var c = TestData.tinyConfig(java.util.Map.of("data", data.toString(), "out", run.toString(),
                    "maxBatchesPerEpoch", 2, "maxImagesPerClass", 30));
            org.xraydl.train.Trainer.train(c, new org.xraydl.train.Trainer.Options(false, List.of(), List.of(r -> {
                firstEpochDone.countDown();
                try {
                    secondTried.await(120, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }), null));
            return 0;
        });
        assertTrue(firstEpochDone.await(300, TimeUnit.SECONDS), "first run reached its first epoch");
        CliRunner.Outcome second = cli(train(data, run));
        secondTried.countDown();
        assertOneLineError(second, "run folder " + run + " is in use by another training");
        assertEquals(0, first.get(300, TimeUnit.SECONDS));
        assertEquals(2, Files.readAllLines(run.resolve("history.csv")).size(), "only the first run wrote history");

        // Lock released at the end; the folder now holds a run, so a new run (not --resume) is refused.
        assertOneLineError(cli(train(data, run)), "already holds a run", "--resume " + run.resolve("last.zip"));
        Path other = Files.createDirectories(tmp.resolve("notes"));
        Files.writeString(other.resolve("readme.txt"), "mine");
        assertOneLineError(cli(train(data, other)), "output folder " + other + " is not empty");

        // A lock file left by a killed run (no lock held) is taken over.
        Path stale = Files.createDirectories(tmp.resolve("stale"));
        Files.writeString(stale.resolve(RunLock.FILE), "12345\n");
        CliRunner.Outcome afterCrash = cli(train(data, stale));
        assertEquals(0, afterCrash.code(), afterCrash.err());
    }
}
