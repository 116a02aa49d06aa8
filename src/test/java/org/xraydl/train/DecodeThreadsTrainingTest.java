package org.xraydl.train;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.data.DecodePool;
import org.xraydl.run.EpochRecord;
import org.xraydl.run.RunDirectory;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A training run learns exactly the same with one decoding thread on the training thread as with three behind
 * the background loader (same batches, so the same losses and validation probabilities), keeps one set of
 * decoding threads for the whole run, and leaves none behind.
 */
class DecodeThreadsTrainingTest {

    private static RunConfig config(Path out, int decodeThreads, int loaderThreads) {
        Map<String, Object> o = new HashMap<>(Map.of("data", TestData.sample().toString(), "out", out.toString(), "epochs", 2,
                "batchSize", 4, "maxImagesPerClass", 10, "valFraction", 0.3, "seed", 5, "ttaOperatingPoint", false));
        o.put("decodeThreads", decodeThreads);
        o.put("loaderThreads", loaderThreads);
        return TestData.tinyConfig(o);
    }

    private static Set<String> liveDecodeThreads() {
        return Thread.getAllStackTraces().keySet().stream()
                .filter(t -> t.isAlive() && t.getName().startsWith(DecodePool.THREAD_PREFIX))
                .map(Thread::getName).collect(Collectors.toSet());
    }

    @Test
    void oneDecodeThreadAndThreeBehindTheLoaderTrainTheSameAndNoThreadIsLeft(@TempDir Path tmp) throws Exception {
        Trainer.Result one = Trainer.train(config(tmp.resolve("one"), 1, 0), Trainer.Options.quiet());
        assertEquals(Set.of(), liveDecodeThreads(), "decodeThreads 1 makes no helper thread");

        List<Set<String>> threadsAfterEpoch = new ArrayList<>();
        Trainer.Options o = new Trainer.Options(false, List.of(), List.of(rec -> threadsAfterEpoch.add(liveDecodeThreads())), null);
        Trainer.Result three = Trainer.train(config(tmp.resolve("three"), 3, 1), o);
        assertEquals(2, threadsAfterEpoch.size());
        assertEquals(2, threadsAfterEpoch.get(0).size(), "helper threads of decodeThreads 3 after epoch 1: " + threadsAfterEpoch.get(0));
        assertEquals(threadsAfterEpoch.get(0), threadsAfterEpoch.get(1), "epoch 2 decoded on other threads");
        assertEquals(Set.of(), liveDecodeThreads(), "the run did not close its decoding threads");

        assertEquals(2, one.history().size());
        for (int e = 0; e < 2; e++) {
            EpochRecord a = one.history().get(e);
            EpochRecord b = three.history().get(e);
            assertEquals(a.trainLoss(), b.trainLoss(), "train loss of epoch " + (e + 1));
            assertEquals(a.valLoss(), b.valLoss(), "validation loss of epoch " + (e + 1));
            assertEquals(a.valAuc(), b.valAuc(), "validation AUC of epoch " + (e + 1));
        }
        assertEquals(one.validationPredictions().files(), three.validationPredictions().files());
        for (int i = 0; i < one.validationPredictions().size(); i++) {
            assertArrayEquals(one.validationPredictions().probabilities()[i], three.validationPredictions().probabilities()[i], 0.0,
                    "validation probabilities of " + one.validationPredictions().files().get(i));
        }
        JsonNode provenance = ConfigLoader.JSON.readTree(three.runDirectory().resolve(RunDirectory.PROVENANCE).toFile());
        assertEquals(3, provenance.get("decodeThreads").asInt());
        assertEquals(1, provenance.get("loaderThreads").asInt());
    }
}
