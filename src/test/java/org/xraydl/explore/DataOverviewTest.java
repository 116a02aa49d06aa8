package org.xraydl.explore;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.xraydl.TestData;
import org.xraydl.data.LabeledImage;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * DataOverview on the shipped sample of real X-rays. Expected numbers are the sample's, counted by hand
 * ({@code ls data/chest-xray-sample/*}/*): train 130 NORMAL + 130 PNEUMONIA, test 40 + 40, every image
 * 224 x 224; patients are read from the file names here, not through the project's PatientIds.
 */
class DataOverviewTest {
    static final int TRAIN_PER_CLASS = 130;
    static final int TEST_PER_CLASS = 40;
    static final int SIDE = 224;
    /** personN_bacteria / personN_virus / IM-N / NORMAL2-IM-N: the patient part of a chest-xray file name. */
    static final Pattern PATIENT = Pattern.compile("^(person\\d+_(bacteria|virus)|NORMAL2-IM-\\d+|IM-\\d+)");

    static DataOverview overview;

    @BeforeAll
    static void scan() {
        overview = DataOverview.scan(TestData.sample(), TestData.tinyConfig(Map.of()));
    }

    @Test
    void countsAreTheSamplesAndTheValidationPatientsAreHeldOut() throws Exception {
        assertEquals(List.of("NORMAL", "PNEUMONIA"), overview.labels());
        assertEquals(List.of("train", "validation", "test"), overview.splits());
        Map<String, Map<String, Integer>> c = overview.counts();
        for (String label : overview.labels()) {
            assertEquals(TRAIN_PER_CLASS, c.get("train").get(label) + c.get("validation").get(label), label);
            assertEquals(TEST_PER_CLASS, c.get("test").get(label), label);
            assertTrue(c.get("validation").get(label) > 0, "both classes in validation: " + label);
        }
        // train + validation: exactly the sample's train folder, each file once, no patient on both sides.
        Set<String> trainFiles = names(overview.images("train"));
        Set<String> valFiles = names(overview.images("validation"));
        assertEquals(overview.images("train").size() + overview.images("validation").size(), trainFiles.size() + valFiles.size());
        Set<String> union = new TreeSet<>(trainFiles);
        union.addAll(valFiles);
        assertEquals(listed("train"), union);
        Set<String> shared = patients(trainFiles);
        shared.retainAll(patients(valFiles));
        assertEquals(Set.of(), shared, "patients in both training and validation");
        // valFraction 0.15 of 260 images is 39; whole patients move, so a little either way.
        int val = valFiles.size();
        assertTrue(val >= 30 && val <= 50, "validation size " + val);
        assertEquals(names(overview.images("test")), listed("test"));

        Table t = overview.countsTable();
        assertEquals(List.of("split", "NORMAL", "PNEUMONIA", "total", "patients", "PNEUMONIA share"), t.header());
        assertEquals(List.of("train", "validation", "test", "all"), t.column("split"));
        assertEquals(List.of(String.valueOf(260 - val), String.valueOf(val), "80", "340"), t.column("total"));
        for (String label : overview.labels()) {
            assertEquals(TRAIN_PER_CLASS, Integer.parseInt(t.get(0, label)) + Integer.parseInt(t.get(1, label)), label);
            assertEquals(String.valueOf(TEST_PER_CLASS), t.get(2, label), label);
            assertEquals(String.valueOf(TRAIN_PER_CLASS + TEST_PER_CLASS), t.get(3, label), label);
        }
        assertEquals(String.valueOf(patients(valFiles).size()), t.get(1, "patients"));
        assertEquals(String.valueOf(patients(listed("test")).size()), t.get(2, "patients"));
        assertTrue(t.markdown().startsWith("| split | NORMAL | PNEUMONIA |"), t.markdown());
        assertTrue(overview.skipped().isEmpty());

        CategoryChart chart = overview.countsChart();
        assertEquals(Set.of("NORMAL", "PNEUMONIA"), chart.getSeriesMap().keySet());
        for (String label : overview.labels()) {
            List<Integer> y = chart.getSeriesMap().get(label).getYData().stream().map(Number::intValue).toList();
            assertEquals(3, y.size());
            assertEquals(TRAIN_PER_CLASS, y.get(0) + y.get(1), label);
            assertEquals(TEST_PER_CLASS, y.get(2), label);
        }
    }

    @Test
    void imageSizesComeFromEveryFile() {
        List<DataOverview.ImageInfo> infos = overview.imageInfos();
        assertEquals(340, infos.size());
        assertTrue(infos.stream().allMatch(i -> i.width() == SIDE && i.height() == SIDE), "the sample is all 224 x 224");

        Table sizes = overview.sizeTable();
        assertEquals(List.of("NORMAL", "PNEUMONIA", "all"), sizes.column("class"));
        assertEquals(List.of("170", "170", "340"), sizes.column("images"));
        assertEquals(List.of("224", "224", "224"), sizes.column("width min"));

        XYChart scatter = overview.sizeScatter();
        for (String label : List.of("NORMAL", "PNEUMONIA")) {
            XYSeries s = scatter.getSeriesMap().get(label);
            assertEquals(170, s.getXData().length, label);
            assertTrue(java.util.Arrays.stream(s.getXData()).allMatch(x -> x == SIDE), label);
        }
        CategoryChart hist = overview.sizeHistogram(10);
        double counted = hist.getSeriesMap().values().stream()
                .mapToDouble(s -> s.getYData().stream().mapToDouble(Number::doubleValue).sum()).sum();
        assertEquals(340, counted, 1e-9);
        assertEquals(170, hist.getSeriesMap().get("NORMAL").getYData().stream().mapToDouble(Number::doubleValue).sum(), 1e-9);
    }

    /** File names in one of the sample's folders ({@code train} or {@code test}), both classes. */
    static Set<String> listed(String folder) throws Exception {
        Set<String> out = new TreeSet<>();
        for (String cls : List.of("NORMAL", "PNEUMONIA")) {
            try (Stream<Path> s = Files.list(TestData.sample().resolve(folder).resolve(cls))) {
                s.forEach(p -> out.add(p.getFileName().toString()));
            }
        }
        assertEquals(folder.equals("train") ? 2 * TRAIN_PER_CLASS : 2 * TEST_PER_CLASS, out.size(), folder);
        return out;
    }

    static Set<String> names(List<LabeledImage> images) {
        return images.stream().map(i -> i.file().getFileName().toString()).collect(Collectors.toCollection(TreeSet::new));
    }

    static Set<String> patients(Set<String> fileNames) {
        Set<String> out = new TreeSet<>();
        for (String name : fileNames) {
            Matcher m = PATIENT.matcher(name);
            assertTrue(m.find(), "no patient in " + name);
            out.add(m.group(1));
        }
        return out;
    }

    @Test
    void sampleGridHasOneRowPerClassAndIsSeeded() {
        int tile = 90;
        BufferedImage grid = overview.sampleGrid(3, tile, 5);
        int cellHeight = tile + 2 * Images.LINE_HEIGHT + Images.GAP;
        assertEquals(Images.GAP + 2 * (cellHeight + Images.GAP), grid.getHeight());
        assertTrue(grid.getWidth() >= 3 * (tile + Images.GAP) && grid.getWidth() < 3 * (tile + Images.GAP) + 200, "width " + grid.getWidth());
        assertArrayEquals(pixels(grid), pixels(overview.sampleGrid(3, tile, 5)), "same seed, same images");
        assertFalse(java.util.Arrays.equals(pixels(grid), pixels(overview.sampleGrid(3, tile, 6))), "another seed, other images");
    }

    @Test
    void augmentationGridShowsOriginalEvaluationAndDistinctAugmentedCopies() {
        Path example = overview.example("PNEUMONIA");
        assertTrue(overview.images("train").stream().map(LabeledImage::file).anyMatch(example::equals));
        int tile = 64;
        BufferedImage grid = overview.augmentationGrid(example, 4, tile, 11);
        int cellHeight = tile + 2 * Images.LINE_HEIGHT + Images.GAP;
        assertEquals(Images.GAP + 2 * (cellHeight + Images.GAP), grid.getHeight(), "row 1: original + evaluation; row 2: 4 copies");
        assertEquals(Images.GAP + 4 * (tile + Images.GAP), grid.getWidth());
        int y = Images.GAP + cellHeight + Images.GAP;
        int[] a = tilePixels(grid, 0, y, tile);
        int[] b = tilePixels(grid, 1, y, tile);
        int[] c = tilePixels(grid, 2, y, tile);
        assertNotEquals(java.util.Arrays.hashCode(a), java.util.Arrays.hashCode(b), "two draws of the augmentation differ");
        assertNotEquals(java.util.Arrays.hashCode(b), java.util.Arrays.hashCode(c));
        assertArrayEquals(pixels(grid), pixels(overview.augmentationGrid(example, 4, tile, 11)), "seeded");
        assertEquals(List.of("input size", "rotation", "random resized crop", "horizontal flip", "brightness", "contrast",
                        "resampling", "used in training"),
                overview.augmentationSettings().column("setting"));
        assertEquals("32 px", overview.augmentationSettings().get(0, "value"));
        assertEquals("off", overview.augmentationSettings().get(4, "value"), "brightness is off by default");
    }

    @Test
    void sizesOfImagesOfDifferentSizes(@org.junit.jupiter.api.io.TempDir Path tmp) throws Exception {
        // The shipped sample is all 224 x 224: here images of other sizes, one PNG per (class, size).
        int[][] sizes = {{300, 200}, {640, 480}, {1000, 900}, {120, 160}};
        for (String cls : List.of("NORMAL", "PNEUMONIA")) {
            java.nio.file.Files.createDirectories(tmp.resolve(cls));
            for (int i = 0; i < sizes.length; i++) {
                BufferedImage img = new BufferedImage(sizes[i][0], sizes[i][1], BufferedImage.TYPE_BYTE_GRAY);
                img.getRaster().setSample(i, i, 0, 200);
                ImageIO.write(img, "png", tmp.resolve(cls).resolve("person" + (i + 1) + (cls.equals("NORMAL") ? "_n" : "_bacteria") + "_1.png").toFile());
            }
        }
        DataOverview o = DataOverview.scan(tmp, TestData.tinyConfig(Map.of()));
        assertEquals(List.of("train", "validation"), o.splits(), "no test split in a plain class folder");
        Table t = o.sizeTable();
        assertEquals(List.of("120", "120", "120"), t.column("width min"));
        assertEquals(List.of("1000", "1000", "1000"), t.column("width max"));
        assertEquals(List.of("160", "160", "160"), t.column("height min"));
        CategoryChart hist = o.sizeHistogram(4);
        List<?> bins = List.copyOf(hist.getSeriesMap().get("NORMAL").getXData());
        assertEquals(4, bins.size());
        assertEquals("160–370", bins.get(0), "longer sides 160..1000 in 4 bins of 211 px");
        assertEquals(List.of(2, 0, 1, 1), List.copyOf(hist.getSeriesMap().get("NORMAL").getYData()), "160, 300 | - | 640 | 1000");
        assertEquals("793–1003", bins.get(3));
        XYChart scatter = o.sizeScatter();
        assertEquals(4, scatter.getSeriesMap().get("PNEUMONIA").getXData().length);
    }

    private static int[] tilePixels(BufferedImage grid, int column, int y, int tile) {
        int x = Images.GAP + column * (tile + Images.GAP);
        return grid.getRGB(x, y, tile, tile, null, 0, tile);
    }

    static int[] pixels(BufferedImage img) {
        return img.getRGB(0, 0, img.getWidth(), img.getHeight(), null, 0, img.getWidth());
    }
}
