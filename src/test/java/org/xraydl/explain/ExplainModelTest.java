package org.xraydl.explain;

import com.fasterxml.jackson.databind.JsonNode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.xraydl.TestData;
import org.xraydl.cli.CliRunner;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.data.Preprocessing;
import org.xraydl.model.ModelFactory;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.predict.Predictor;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.xraydl.cli.CliRunner.cli;

/** Grad-CAM on the pipeline's own models (frozen, saved and loaded) and through the CLI. */
class ExplainModelTest {

    static Path tinyBundle(Path dir, Map<String, Object> extra) {
        RunConfig c = TestData.tinyConfig(extra);
        Path zip = dir.resolve("model.zip");
        new ModelBundle(ModelFactory.create(c, 2, null), Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA")), c, Map.of())
                .save(zip, false);
        return zip;
    }

    static Path sampleImage(String cls, int index) throws Exception {
        try (Stream<Path> s = Files.list(TestData.sample().resolve("test").resolve(cls))) {
            return s.sorted().toList().get(index);
        }
    }

    @Test
    void frozenLoadedDenseNetGivesTheSameMapTwiceAndKeepsItsParameters(@TempDir Path tmp) throws Exception {
        ModelBundle bundle = ModelBundle.load(tinyBundle(tmp, Map.of("freezeTrunk", true)));
        ComputationGraph net = bundle.network();
        assertTrue(net.getLayer("relu") instanceof org.deeplearning4j.nn.layers.FrozenLayer, "the trunk is frozen");
        INDArray input = new Predictor(bundle).input(sampleImage("PNEUMONIA", 0));
        INDArray inputBefore = input.dup();
        INDArray paramsBefore = net.params().dup();

        GradCam cam = new GradCam(net, null);
        Heatmap first = cam.compute(input, -1);
        Heatmap second = cam.compute(input, -1);
        assertEquals(first, second, "same input, same map");
        assertEquals("relu", first.layer(), "DenseNet: the final BN-ReLU before the global pool");
        assertEquals(32, first.height());
        assertEquals(32, first.width());
        assertEquals(paramsBefore, net.params(), "parameters and batch-norm statistics untouched");
        assertEquals(inputBefore, input, "the caller's input untouched");
        for (double[] row : first.values()) {
            for (double v : row) {
                assertTrue(v >= 0 && v <= 1, "in [0, 1]: " + v);
            }
        }
        INDArray probs = net.outputSingle(false, input.dup());
        assertEquals(probs.getDouble(0, first.classIndex()), first.probability(), 1e-6, "the predicted class and its probability");
        assertEquals(probs.argMax(1).getInt(0), first.classIndex());
        // the other class gets its own map
        assertNotEquals(first.classIndex(), cam.compute(input, 1 - first.classIndex()).classIndex());
    }

    @Test
    void vgg16DefaultsToItsLastConvolutionAndPassesItsFrozenDenseLayers() throws Exception {
        RunConfig c = TestData.tinyConfig(Map.of("model", "vgg16", "freezeTrunk", true, "headHidden", List.of(8)));
        ComputationGraph net = ModelFactory.create(c, 2, null); // in memory: saving VGG16 costs more than the rest of the test
        INDArray input = new Predictor(new ModelBundle(net, Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA")), c, Map.of()))
                .input(sampleImage("NORMAL", 0));
        Heatmap h = new GradCam(net, null).compute(input, 0);
        // zoo VGG16 with random init: "16" is conv5_3, "17" the max pool after it, "18"/"19" fc1/fc2
        assertEquals("16", h.layer());
        assertTrue(net.getLayer("18") instanceof org.deeplearning4j.nn.layers.FrozenLayer, "fc1 frozen");
        assertEquals(h, new GradCam(net, "16").compute(input, 0));
    }

    @Test
    void overlayHasTheSizeOfTheImageItIsDrawnOn() throws Exception {
        ComputationGraph net = GradCamTest.quadrantNet();
        Heatmap map = new GradCam(net, null).compute(GradCamTest.topLeftEvidence(), 1);
        BufferedImage grey = new BufferedImage(50, 37, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 37; y++) {
            for (int x = 0; x < 50; x++) {
                grey.setRGB(x, y, 0x808080);
            }
        }
        // the model saw the central 37x37 square (shorter side 37 resized to 9, centre 8x8 of 12x9... as CenterCropTransform)
        double[] window = new org.xraydl.data.CenterCropTransform(9, 8, org.xraydl.data.Resampling.OPENCV).sourceWindow(50, 37);
        BufferedImage out = Overlay.render(grey, map, window);
        BufferedImage png = ImageIO.read(new ByteArrayInputStream(Overlay.png(out)));
        assertEquals(50, png.getWidth());
        assertEquals(37, png.getHeight());
        assertEquals(0x808080, png.getRGB(0, 36) & 0xFFFFFF, "left of the window: untouched");
        int px = (int) (window[0] + window[2] * 3.5 / 8); // map pixel (3, 3) = 1: the hottest
        int py = (int) (window[1] + window[3] * 3.5 / 8);
        int hot = png.getRGB(px, py);
        assertTrue(((hot >> 16) & 255) > (hot & 255), "hot = red over blue: " + Integer.toHexString(hot));
        int cold = png.getRGB((int) (window[0] + window[2] * 6.5 / 8), (int) (window[1] + window[3] * 6.5 / 8));
        assertTrue((cold & 255) > ((cold >> 16) & 255), "cold = blue over red: " + Integer.toHexString(cold));
    }

    @Test
    void predictWithHeatmapsWritesOneOverlayPerImageAndNamesItInTheJson(@TempDir Path tmp) throws Exception {
        Path model = tinyBundle(tmp, Map.of());
        Path images = Files.createDirectories(tmp.resolve("images"));
        List<Path> originals = List.of(sampleImage("NORMAL", 0), sampleImage("PNEUMONIA", 0), sampleImage("PNEUMONIA", 1));
        for (Path p : originals) {
            Files.copy(p, images.resolve(p.getFileName()));
        }
        Path out = tmp.resolve("maps");
        CliRunner.Outcome result = cli("predict", "--model", model.toString(), "--heatmaps", out.toString(), images.toString());
        assertEquals(0, result.code(), result.err());
        List<String> lines = result.out().lines().filter(l -> l.startsWith("{")).toList();
        assertEquals(3, lines.size(), result.out());
        for (String line : lines) {
            JsonNode j = ConfigLoader.JSON.readTree(line);
            Path heatmap = Path.of(j.get("heatmap").asText());
            assertTrue(Files.isRegularFile(heatmap), "written: " + heatmap);
            assertEquals(out, heatmap.getParent());
            BufferedImage original = ImageIO.read(Path.of(j.get("file").asText()).toFile());
            BufferedImage overlay = ImageIO.read(heatmap.toFile());
            assertEquals(original.getWidth(), overlay.getWidth(), heatmap.toString());
            assertEquals(original.getHeight(), overlay.getHeight(), heatmap.toString());
        }
        try (Stream<Path> s = Files.list(out)) {
            assertEquals(3, s.filter(p -> p.toString().endsWith(".png")).count(), "one per image, nothing else");
        }
    }

    @Test
    void evaluateWithHeatmapsWritesTheMisclassifiedMostConfidentFirst(@TempDir Path tmp) throws Exception {
        Path model = tinyBundle(tmp, Map.of());
        Path data = tmp.resolve("data");
        for (String cls : List.of("NORMAL", "PNEUMONIA")) {
            Files.createDirectories(data.resolve(cls));
            for (int i = 0; i < 3; i++) {
                Path p = sampleImage(cls, i);
                Files.copy(p, data.resolve(cls).resolve(p.getFileName()));
            }
        }
        Path out = tmp.resolve("wrong");
        Path csv = tmp.resolve("pred.csv");
        CliRunner.Outcome result = cli("evaluate", "--model", model.toString(), "--data", data.toString(), "--heatmaps", out.toString(),
                "--predictions", csv.toString());
        assertEquals(0, result.code(), result.err());
        // expected from the predictions file: the wrong rows, by confidence of the (wrong) predicted class
        List<String[]> wrong = new ArrayList<>();
        for (String row : Files.readAllLines(csv).subList(1, 7)) {
            String[] f = row.split(",");
            if (!f[1].equals(f[2])) {
                wrong.add(f);
            }
        }
        wrong.sort((a, b) -> Double.compare(conf(b), conf(a)));
        List<String> files;
        try (Stream<Path> s = Files.list(out)) {
            files = s.map(p -> p.getFileName().toString()).sorted().toList();
        }
        assertEquals(wrong.size(), files.size(), files.toString());
        for (int r = 0; r < wrong.size(); r++) {
            String[] w = wrong.get(r);
            String stem = Path.of(w[0]).getFileName().toString().replace(".jpeg", "");
            assertTrue(files.get(r).startsWith(String.format("%03d_true-%s_pred-%s_", r + 1, w[1], w[2])), files.get(r));
            assertTrue(files.get(r).endsWith(stem + ".png"), files.get(r));
        }
    }

    private static double conf(String[] row) {
        return Math.max(Double.parseDouble(row[3]), Double.parseDouble(row[4]));
    }
}
