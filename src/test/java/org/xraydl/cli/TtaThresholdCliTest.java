package org.xraydl.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.xraydl.TestData;
import org.xraydl.cli.CliRunner.Outcome;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.Preprocessing;
import org.xraydl.data.TestTimeAugmentation;
import org.xraydl.evaluate.Predictions;
import org.xraydl.model.ModelFactory;
import org.xraydl.model.io.DecisionRule;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.run.RunDirectory;

import java.net.URI;
import java.nio.file.FileSystem;
import java.nio.file.FileSystems;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.xraydl.cli.CliRunner.cli;

/**
 * evaluate and predict apply the operating point chosen on the kind of probabilities they compute: the TTA
 * rule with --tta, the plain one without. The model is a tiny untrained net in a hand-made zip whose two rules
 * are set so that the chosen NORMAL image is called PNEUMONIA by the plain rule and NORMAL by the TTA rule, and
 * either rule applied to the other's probabilities would call it the other way.
 */
class TtaThresholdCliTest {
    private static final List<String> LABELS = List.of("NORMAL", "PNEUMONIA");
    /** The TTA rule's temperature: sharpens, so applying the wrong temperature shows in the probabilities. */
    private static final double TTA_TEMPERATURE = 0.25;

    @TempDir
    static Path tmp;
    static Path data;
    static Path image;
    static List<LabeledImage> images;
    /** P(PNEUMONIA) per image of {@link #images}: plain and TTA-averaged, before any temperature. */
    static double[] plain;
    static double[] tta;
    static ModelBundle untrained;

    @BeforeAll
    static void model() throws Exception {
        data = tmp.resolve("data");
        TestData.copySample(data, 1, "NORMAL", "PNEUMONIA");
        images = Stream.of("NORMAL", "PNEUMONIA").map(label -> {
            try (Stream<Path> s = Files.list(data.resolve(label))) {
                Path f = s.findFirst().orElseThrow();
                return new LabeledImage(f, label, f.getFileName().toString());
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        }).toList();
        image = images.get(0).file();
        RunConfig c = TestData.tinyConfig(Map.of());
        Path zip = tmp.resolve("no-rule.zip");
        new ModelBundle(ModelFactory.create(c, 2, null), Preprocessing.of(c, LABELS), c, Map.of()).save(zip, false);
        untrained = ModelBundle.load(zip);
        Preprocessing pre = untrained.preprocessing();
        plain = positive(TestData.averagedOverViews(untrained.network(), images, pre, TestTimeAugmentation.views(pre).subList(0, 1)));
        tta = positive(TestData.averagedOverViews(untrained.network(), images, pre, TestTimeAugmentation.views(pre)));
    }

    private static double[] positive(Predictions p) {
        double[] out = new double[p.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = p.probabilities()[i][1] / (p.probabilities()[i][0] + p.probabilities()[i][1]);
        }
        return out;
    }

    /** Temperature scaling of a two-class probability by hand: softmax(log p / T). */
    static double scaled(double p, double temperature) {
        double a = Math.pow(p, 1 / temperature);
        double b = Math.pow(1 - p, 1 / temperature);
        return a / (a + b);
    }

    /** A copy of the untrained model's zip with {@code decisionJson} written as its decision entry, byte for byte. */
    static Path zipWithDecision(String name, String decisionJson) throws Exception {
        Path zip = tmp.resolve(name);
        Files.copy(tmp.resolve("no-rule.zip"), zip);
        try (FileSystem fs = FileSystems.newFileSystem(URI.create("jar:" + zip.toUri()), Map.of())) {
            Files.writeString(fs.getPath("xraydl_decision.json"), decisionJson);
        }
        return zip;
    }

    static JsonNode predictLine(Outcome o) throws Exception {
        assertEquals(0, o.code(), o.err());
        List<String> lines = o.out().lines().filter(l -> l.startsWith("{")).toList();
        assertEquals(1, lines.size(), o.out());
        return ConfigLoader.JSON.readTree(lines.get(0));
    }

    @Test
    void ttaUsesTheTtaRuleAndPlainThePlainOne() throws Exception {
        double sPlain = plain[0];
        double sTta = scaled(tta[0], TTA_TEMPERATURE);
        assertTrue(Math.abs(sTta - tta[0]) > 1e-3, "the TTA temperature must visibly change the probability: " + tta[0]);
        // Plain threshold below both probabilities, TTA threshold above both: only the matching rule gives each decision.
        double tPlain = Math.min(sPlain, sTta) - 1e-3;
        double tTta = Math.max(sPlain, sTta) + 1e-3;
        DecisionRule rule = new DecisionRule("PNEUMONIA", tPlain, "sensitivity", 0.97, 1.0)
                .withTta(new DecisionRule("PNEUMONIA", tTta, "sensitivity", 0.97, TTA_TEMPERATURE), 6);
        Path zip = tmp.resolve("two-rules.zip");
        Files.copy(tmp.resolve("no-rule.zip"), zip);
        ModelBundle.storeDecision(zip, rule);

        JsonNode p = predictLine(cli("predict", "--model", zip.toString(), image.toString()));
        assertEquals("PNEUMONIA", p.get("class").asText());
        assertEquals(tPlain, p.get("threshold").asDouble(), 0);
        assertEquals("stored (sensitivity)", p.get("threshold_source").asText());
        assertEquals(sPlain, p.get("probabilities").get("PNEUMONIA").asDouble(), 1e-4);

        JsonNode t = predictLine(cli("predict", "--model", zip.toString(), "--tta", image.toString()));
        assertEquals("NORMAL", t.get("class").asText());
        assertEquals(tTta, t.get("threshold").asDouble(), 0);
        assertEquals("stored (TTA, sensitivity)", t.get("threshold_source").asText());
        assertEquals(sTta, t.get("probabilities").get("PNEUMONIA").asDouble(), 1e-4, "the TTA temperature, not the plain one");

        for (boolean withTta : new boolean[]{false, true}) {
            Path json = tmp.resolve("eval-" + withTta + ".json");
            Path csv = tmp.resolve("eval-" + withTta + ".csv");
            List<String> args = new java.util.ArrayList<>(List.of("evaluate", "--model", zip.toString(), "--data", data.toString(),
                    "--json", json.toString(), "--predictions", csv.toString()));
            if (withTta) {
                args.add("--tta");
            }
            Outcome e = cli(args.toArray(String[]::new));
            assertEquals(0, e.code(), e.err());
            JsonNode m = ConfigLoader.JSON.readTree(json.toFile());
            double threshold = withTta ? tTta : tPlain;
            double temperature = withTta ? TTA_TEMPERATURE : 1.0;
            assertEquals(threshold, m.get("threshold").asDouble(), 0);
            assertEquals(temperature, m.get("temperature").asDouble(), 0);
            assertEquals(withTta ? "stored (TTA, sensitivity)" : "stored (sensitivity)", m.get("threshold_source").asText());
            assertEquals(withTta ? 6 : 1, m.get("tta_views").asInt());
            // The confusion matrix from this test's own probabilities and the rule it expects (rows = true class).
            int[][] confusion = new int[2][2];
            Predictions written = RunDirectory.readPredictions(csv);
            for (int i = 0; i < images.size(); i++) {
                double s = scaled((withTta ? tta : plain)[i], temperature);
                confusion[i][s >= threshold ? 1 : 0]++;
                int row = written.files().indexOf(images.get(i).file().toString());
                assertEquals(s, written.probabilities()[row][1], 1e-5, images.get(i).file().toString());
            }
            assertEquals(withTta ? 0 : 1, confusion[0][1], "the chosen NORMAL image: PNEUMONIA by the plain rule only");
            for (int r = 0; r < 2; r++) {
                for (int q = 0; q < 2; q++) {
                    assertEquals(confusion[r][q], m.get("confusion").get(r).get(q).asInt(), "confusion " + r + "," + q + " tta=" + withTta);
                }
            }
        }
    }

    /** train --set ttaOperatingPoint=false: no TTA pass, no TTA rule, and --tta with the stored threshold says how to get one. */
    @Test
    void trainingWithTtaOperatingPointFalseGivesAZipThatRefusesTtaAndNamesTheKey() throws Exception {
        Path trainData = tmp.resolve("train-data");
        TestData.copySample(trainData, 12, "NORMAL", "PNEUMONIA");
        Path run = tmp.resolve("no-tta-run");
        Outcome train = cli(EndToEndTest.concat(new String[]{"train", "--data", trainData.toString(), "--out", run.toString(),
                "--epochs", "1", "--set", "ttaOperatingPoint=false", "--set", "valFraction=0.3"}, EndToEndTest.TINY));
        assertEquals(0, train.code(), train.err());
        assertTrue(train.out().contains("TTA operating point not chosen (ttaOperatingPoint: false)"), train.out());
        assertFalse(train.out().contains("TTA operating threshold"), train.out());
        Path best = run.resolve(RunDirectory.BEST);
        assertEquals(null, ModelBundle.load(best).decision().tta());

        Outcome o = cli("predict", "--model", best.toString(), "--tta", image.toString());
        assertEquals(2, o.code(), o.out());
        List<String> errors = o.err().lines().filter(l -> l.startsWith("error:")).toList();
        assertEquals(1, errors.size(), o.err());
        assertTrue(errors.get(0).contains("ttaOperatingPoint: true") && errors.get(0).contains("--threshold VALUE"), errors.get(0));
    }

    /** A zip from before TTA rules (its decision JSON as the older code wrote it): --tta refuses the stored threshold. */
    @Test
    void aZipWithoutTtaRuleRefusesTtaWithTheStoredThresholdAndSaysWhatToPass() throws Exception {
        Path old = zipWithDecision("old.zip",
                "{\"positive\":\"PNEUMONIA\",\"threshold\":0.3125,\"method\":\"sensitivity\",\"targetSensitivity\":0.97,\"temperature\":1.5}");
        for (String[] args : List.of(new String[]{"predict", "--model", old.toString(), "--tta", image.toString()},
                new String[]{"evaluate", "--model", old.toString(), "--data", data.toString(), "--tta"})) {
            Outcome o = cli(args);
            assertEquals(2, o.code(), args[0] + ": " + o.out());
            List<String> errors = o.err().lines().filter(l -> l.startsWith("error:")).toList();
            assertEquals(1, errors.size(), o.err());
            assertTrue(errors.get(0).contains(old.toString()) && errors.get(0).contains("no operating point chosen on TTA")
                    && errors.get(0).contains("--threshold VALUE"), errors.get(0));
            assertFalse(o.out().contains("\"class\""), "no decision printed: " + o.out());
        }

        // Without --tta the old zip works as before: its threshold and temperature.
        JsonNode p = predictLine(cli("predict", "--model", old.toString(), image.toString()));
        assertEquals(0.3125, p.get("threshold").asDouble(), 0);
        assertEquals(scaled(plain[0], 1.5), p.get("probabilities").get("PNEUMONIA").asDouble(), 1e-4);

        // --tta with a given threshold: that threshold, and the plain temperature is not applied to TTA averages.
        Outcome given = cli("predict", "--model", old.toString(), "--tta", "--threshold", "0.4", image.toString());
        JsonNode g = predictLine(given);
        assertEquals(0.4, g.get("threshold").asDouble(), 0);
        assertEquals("given", g.get("threshold_source").asText());
        assertEquals(tta[0], g.get("probabilities").get("PNEUMONIA").asDouble(), 1e-4);
        assertTrue(Math.abs(scaled(tta[0], 1.5) - tta[0]) > 2e-4, "the plain temperature would show: " + tta[0]);
        assertTrue(given.err().contains("no temperature fitted on TTA probabilities"), given.err());
    }
}
