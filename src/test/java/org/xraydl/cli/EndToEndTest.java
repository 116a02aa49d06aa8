package org.xraydl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.cli.CliRunner.Outcome;
import org.xraydl.config.ConfigLoader;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.xraydl.cli.CliRunner.cli;

/**
 * The product's spine through its CLI, on real X-rays: train a tiny model for a full epoch on the
 * shipped sample, evaluate it on the sample's separate test folder, predict single images.
 */
class EndToEndTest {
    /** A tiny compact DenseNet on 32 px images: a full epoch over the sample takes seconds. */
    static final String[] TINY = {"--image-size", "32", "--batch", "16", "--no-progress",
            "--set", "densenetGrowth=4", "--set", "densenetBlocks=[1,1]", "--set", "densenetInitFeatures=8",
            "--set", "headHidden=[8]", "--set", "headDropout=[0.1]"};

    static String[] concat(String[] a, String... b) {
        List<String> l = new ArrayList<>(List.of(a));
        l.addAll(List.of(b));
        return l.toArray(String[]::new);
    }

    @Test
    void trainEvaluatePredictOnRealXrays(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("run");
        Outcome train = cli(concat(new String[]{"train", "--data", TestData.sample().toString(), "--out", run.toString(),
                "--epochs", "1", "--seed", "7"}, TINY));
        assertEquals(0, train.code(), train.err());
        assertTrue(train.out().contains("Validation metrics of the best model"), train.out());
        assertTrue(train.out().contains("| roc auc"), train.out());

        try (Stream<Path> s = Files.list(run)) {
            Set<String> files = new java.util.TreeSet<>(s.map(p -> p.getFileName().toString()).toList());
            assertTrue(files.containsAll(Set.of("config.yaml", "labels.txt", "split.csv", "history.csv", "best.zip",
                    "last.zip", "metrics.json", "val_predictions.csv", "provenance.json")), files.toString());
            assertFalse(files.stream().anyMatch(f -> f.endsWith(".tmp")), "temp files left: " + files);
        }
        assertEquals(List.of("NORMAL", "PNEUMONIA"), Files.readAllLines(run.resolve("labels.txt")));
        List<String> history = Files.readAllLines(run.resolve("history.csv"));
        assertEquals(2, history.size(), "header + one epoch");
        assertTrue(history.get(0).startsWith("epoch,train_loss,val_loss,val_accuracy,val_auc"), history.get(0));
        String[] row = history.get(1).split(",");
        assertEquals("1", row[0]);
        assertTrue(Double.isFinite(Double.parseDouble(row[1])) && Double.parseDouble(row[1]) > 0, "train loss " + row[1]);
        JsonNode metrics = ConfigLoader.JSON.readTree(run.resolve("metrics.json").toFile());
        int valN = metrics.get("n").asInt();
        assertTrue(valN >= 20 && valN < 100, "validation size " + valN);
        // Metrics are on the held-out patients only: no validation file is in the training list.
        assertSplitIsLeakFree(run.resolve("split.csv"), valN);
        // The operating point chosen on validation is in metrics.json and in best.zip; the run has its reliability diagram,
        // and the AUC recomputed from the full-precision val_predictions.csv is the one in metrics.json (and on roc.png).
        org.xraydl.model.io.DecisionRule rule = org.xraydl.model.io.ModelBundle.load(run.resolve("best.zip")).decision();
        double stored = rule.threshold();
        assertEquals(stored, metrics.get("operating_point").get("threshold").asDouble(), 0);
        assertEquals(rule.tta().threshold(), metrics.get("operating_point_tta").get("threshold").asDouble(), 0, "the TTA rule too");
        assertTrue(train.out().contains("TTA operating threshold"), train.out());
        assertTrue(metrics.get("operating_point").get("sensitivity").asDouble() >= 0.97, metrics.toString());
        assertTrue(metrics.has("ece"), metrics.toString());
        assertTrue(Files.size(run.resolve("reliability.png")) > 0);
        assertEquals(metrics.get("auc").asDouble(), org.xraydl.evaluate.MetricsCalculator.compute(
                org.xraydl.run.RunDirectory.readPredictions(run.resolve("val_predictions.csv")), "PNEUMONIA").auc(), 0);

        // Evaluate on the sample's own test folder (other patients), with the JSON the issue asks for.
        Path json = tmp.resolve("eval.json");
        Outcome eval = cli("evaluate", "--model", run.resolve("best.zip").toString(),
                "--data", TestData.sample().resolve("test").toString(), "--json", json.toString());
        assertEquals(0, eval.code(), eval.err());
        JsonNode m = ConfigLoader.JSON.readTree(json.toFile());
        for (String key : List.of("accuracy", "sensitivity", "specificity", "precision", "f1", "auc", "confusion", "n")) {
            assertTrue(m.has(key), "evaluate --json lacks " + key + ": " + m);
        }
        assertEquals(80, m.get("n").asInt());
        int total = 0;
        for (JsonNode r : m.get("confusion")) {
            for (JsonNode v : r) {
                total += v.asInt();
            }
        }
        assertEquals(80, total);
        double auc = m.get("auc").asDouble();
        assertTrue(auc >= 0 && auc <= 1, "auc " + auc);
        assertTrue(eval.out().contains("sensitivity"), eval.out());
        assertEquals(stored, m.get("threshold").asDouble(), 0, "evaluate uses the stored threshold by default");
        assertEquals(0.5, m.get("at_threshold_0.5").get("threshold").asDouble(), 0);
        assertTrue(Files.size(tmp.resolve("eval-reliability.png")) > 0, "reliability diagram next to --json");

        // Predict: two real images and one broken file; the broken one gets an error line, the others still print.
        Path normal;
        Path pneumonia;
        try (Stream<Path> a = Files.list(TestData.sample().resolve("test/NORMAL"));
             Stream<Path> b = Files.list(TestData.sample().resolve("test/PNEUMONIA"))) {
            normal = a.sorted().findFirst().orElseThrow();
            pneumonia = b.sorted().findFirst().orElseThrow();
        }
        Path broken = Files.writeString(tmp.resolve("broken.jpeg"), "not an image");
        Outcome predict = cli("predict", "--model", run.resolve("best.zip").toString(),
                normal.toString(), broken.toString(), pneumonia.toString());
        assertEquals(1, predict.code(), "an unreadable image makes the exit code 1");
        List<String> lines = predict.out().lines().filter(l -> l.startsWith("{")).toList();
        assertEquals(3, lines.size(), predict.out());
        for (int i : new int[]{0, 2}) {
            JsonNode p = ConfigLoader.JSON.readTree(lines.get(i));
            String cls = p.get("class").asText();
            assertTrue(Set.of("NORMAL", "PNEUMONIA").contains(cls), lines.get(i));
            double conf = p.get("confidence").asDouble();
            double pn = p.get("probabilities").get("NORMAL").asDouble();
            double pp = p.get("probabilities").get("PNEUMONIA").asDouble();
            assertEquals(1.0, pn + pp, 1e-3);
            assertEquals(stored, p.get("threshold").asDouble(), 0, "predict uses the stored threshold by default");
            assertEquals(cls.equals("PNEUMONIA") ? pp : pn, conf, 1e-3);
        }
        // The class is decided with the threshold, on the unrounded probability: check with thresholds around it.
        JsonNode first = ConfigLoader.JSON.readTree(lines.get(0));
        double pp0 = first.get("probabilities").get("PNEUMONIA").asDouble();
        Outcome low = cli("predict", "--model", run.resolve("best.zip").toString(), "--threshold", String.valueOf(Math.max(0, pp0 - 0.001)), normal.toString());
        Outcome high = cli("predict", "--model", run.resolve("best.zip").toString(), "--threshold", String.valueOf(Math.min(1, pp0 + 0.001)), normal.toString());
        assertTrue(low.out().contains("\"class\":\"PNEUMONIA\""), low.out());
        assertTrue(high.out().contains("\"class\":\"NORMAL\""), high.out());
        Outcome badThreshold = cli("predict", "--model", run.resolve("best.zip").toString(), "--threshold", "1.5", normal.toString());
        assertEquals(2, badThreshold.code());
        assertTrue(badThreshold.err().contains("--threshold 1.5 is not valid"), badThreshold.err());
        JsonNode bad = ConfigLoader.JSON.readTree(lines.get(1));
        assertTrue(bad.get("file").asText().endsWith("broken.jpeg"));
        assertTrue(bad.has("error") && !bad.has("class"), lines.get(1));

        // Resume: a second epoch continues the same run directory and history.
        Outcome resumed = cli(concat(new String[]{"train", "--resume", run.resolve("last.zip").toString(), "--epochs", "2"}, "--no-progress"));
        assertEquals(0, resumed.code(), resumed.err());
        assertEquals(3, Files.readAllLines(run.resolve("history.csv")).size(), "header + two epochs");
    }

    /**
     * split.csv ({@code file,label,patient,side}): every training image of the sample on exactly one side,
     * {@code validationSize} of them on the validation side, and no patient on both sides. Patients are read
     * from the file names here (personN_bacteria, personN_virus, IM-N, NORMAL2-IM-N), not from the patient column.
     */
    static void assertSplitIsLeakFree(Path splitCsv, int validationSize) throws Exception {
        List<String> rows = Files.readAllLines(splitCsv);
        assertEquals("file,label,patient,side", rows.get(0));
        Set<String> train = new java.util.HashSet<>();
        Set<String> validation = new java.util.HashSet<>();
        for (String row : rows.subList(1, rows.size())) {
            String side = row.substring(row.lastIndexOf(',') + 1);
            String file = row.substring(0, row.indexOf(','));   // the sample's paths hold no comma
            assertTrue((side.equals("train") ? train : validation).add(file), "listed twice: " + file);
            assertTrue(side.equals("train") || side.equals("validation"), row);
        }
        Set<String> both = new java.util.TreeSet<>(train);
        both.retainAll(validation);
        assertEquals(Set.of(), both, "files on both sides");
        assertEquals(validationSize, validation.size(), "metrics.json n equals the validation rows of split.csv");
        Set<String> sample = new java.util.HashSet<>();
        for (String cls : List.of("NORMAL", "PNEUMONIA")) {
            try (Stream<Path> s = Files.list(TestData.sample().resolve("train").resolve(cls))) {
                s.forEach(p -> sample.add(p.getFileName().toString()));
            }
        }
        assertEquals(260, sample.size(), "the sample's train folder: 130 + 130 images");
        Set<String> listed = new java.util.HashSet<>();
        train.forEach(f -> listed.add(Path.of(f).getFileName().toString()));
        validation.forEach(f -> listed.add(Path.of(f).getFileName().toString()));
        assertEquals(sample, listed, "every training image on one side");
        Set<String> sharedPatients = new java.util.TreeSet<>(patients(train));
        sharedPatients.retainAll(patients(validation));
        assertEquals(Set.of(), sharedPatients, "patients on both sides");
    }

    private static Set<String> patients(Set<String> files) {
        java.util.regex.Pattern patient = java.util.regex.Pattern.compile("^(person\\d+_(bacteria|virus)|NORMAL2-IM-\\d+|IM-\\d+)");
        Set<String> out = new java.util.HashSet<>();
        for (String f : files) {
            String name = Path.of(f).getFileName().toString();
            java.util.regex.Matcher m = patient.matcher(name);
            assertTrue(m.find(), "no patient in the file name " + name);
            out.add(m.group(1));
        }
        return out;
    }

    @Test
    void parallelWrapperWithTwoWorkersTrainsAndRecordsTheEngine(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("pw");
        Outcome o = cli(concat(new String[]{"train", "--data", TestData.sample().toString(), "--out", run.toString(),
                "--epochs", "1", "--workers", "2", "--max-batches", "4"}, TINY));
        assertEquals(0, o.code(), o.err());
        JsonNode prov = ConfigLoader.JSON.readTree(run.resolve("provenance.json").toFile());
        assertTrue(prov.get("engine").asText().startsWith("parallel-wrapper(2"), prov.toString());
        String[] row = Files.readAllLines(run.resolve("history.csv")).get(1).split(",");
        assertTrue(Double.isFinite(Double.parseDouble(row[1])), "train loss " + row[1]);
        assertTrue(Files.size(run.resolve("best.zip")) > 0);
    }

    @Test
    void featurizedHeadTrainingRunsOnAFrozenTrunk(@TempDir Path tmp) throws Exception {
        Path run = tmp.resolve("feat");
        Outcome o = cli(concat(new String[]{"train", "--data", TestData.sample().toString(), "--out", run.toString(),
                "--epochs", "2", "--featurize", "--no-augment", "--freeze-trunk", "true", "--max-images-per-class", "60"}, TINY));
        assertEquals(0, o.code(), o.err());
        assertEquals(3, Files.readAllLines(run.resolve("history.csv")).size());
        JsonNode prov = ConfigLoader.JSON.readTree(run.resolve("provenance.json").toFile());
        assertTrue(prov.get("engine").asText().contains("featur"), prov.toString());
    }

    @Test
    void badInputGivesOneLineAndExitCode2BeforeTraining(@TempDir Path tmp) throws Exception {
        Outcome missing = cli("train", "--data", tmp.resolve("nothing").toString(), "--out", tmp.resolve("r").toString());
        assertEquals(2, missing.code());
        assertEquals(1, missing.err().strip().lines().count(), missing.err());
        assertTrue(missing.err().startsWith("error: data folder not found"), missing.err());
        assertFalse(Files.exists(tmp.resolve("r")), "no run directory for a run that never started");

        Outcome model = cli("train", "--model", "resnet9000", "--out", tmp.resolve("r2").toString());
        assertEquals(2, model.code());
        assertTrue(model.err().contains("resnet9000") && model.err().contains("vgg16"), model.err());

        Path notModel = Files.writeString(tmp.resolve("weights.zip"), "nope");
        Outcome weights = cli("train", "--weights", notModel.toString(), "--out", tmp.resolve("r3").toString());
        assertEquals(2, weights.code());
        assertTrue(weights.err().contains(notModel.toString()), weights.err());
        assertEquals(1, weights.err().strip().lines().count(), weights.err());

        Outcome noModel = cli("evaluate", "--model", tmp.resolve("none.zip").toString(), "--data", TestData.sample().toString());
        assertEquals(2, noModel.code());
        assertTrue(noModel.err().contains("model file not found"), noModel.err());

        Outcome unknownFlag = cli("train", "--epochz", "3");
        assertEquals(2, unknownFlag.code());
        assertTrue(unknownFlag.err().contains("--epochz"), unknownFlag.err());
    }
}
