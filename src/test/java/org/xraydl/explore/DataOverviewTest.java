package org.xraydl.explore;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.knowm.xchart.CategoryChart;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYSeries;
import org.xraydl.TestData;
import org.xraydl.data.ImageFolder;
import org.xraydl.data.ImageFolderScanner;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.PatientSplit;

import javax.imageio.ImageIO;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** DataOverview on the shipped sample of real X-rays: its numbers must be the scanner's and the split's. */
class DataOverviewTest {
    static DataOverview overview;
    static ImageFolder train;
    static ImageFolder test;

    @BeforeAll
    static void scan() {
        overview = DataOverview.scan(TestData.sample(), TestData.tinyConfig(Map.of()));
        train = ImageFolderScanner.scan(TestData.sample(), "train", false, 0);
        test = ImageFolderScanner.scan(TestData.sample().resolve("test"), "train", false, 0);
    }

    @Test
    void countsAreTheScannersAndThePatientSplits() {
        assertEquals(List.of("NORMAL", "PNEUMONIA"), overview.labels());
        assertEquals(List.of("train", "validation", "test"), overview.splits());
        Map<String, Map<String, Integer>> c = overview.counts();
        for (String label : overview.labels()) {
            assertEquals(train.countsPerLabel().get(label), c.get("train").get(label) + c.get("validation").get(label), label);
            assertEquals(test.countsPerLabel().get(label), c.get("test").get(label), label);
        }
        PatientSplit.Split split = PatientSplit.split(train.images(), overview.config().valFraction(), overview.config().seed());
        assertEquals(split.validation(), overview.images("validation"));
        assertTrue(PatientSplit.sharedPatients(split).isEmpty());

        Table t = overview.countsTable();
        assertEquals(List.of("split", "NORMAL", "PNEUMONIA", "total", "patients", "PNEUMONIA share"), t.header());
        assertEquals(List.of("train", "validation", "test", "all"), t.column("split"));
        int all = train.images().size() + test.images().size();
        assertEquals(String.valueOf(all), t.get(3, "total"));
        assertEquals(String.valueOf(overview.images("validation").size()), t.get(1, "total"));
        assertTrue(t.markdown().startsWith("| split | NORMAL | PNEUMONIA |"), t.markdown());
        assertTrue(overview.skipped().isEmpty());

        CategoryChart chart = overview.countsChart();
        assertEquals(Set.of("NORMAL", "PNEUMONIA"), chart.getSeriesMap().keySet());
        assertEquals(3, chart.getSeriesMap().get("NORMAL").getXData().size());
    }

    @Test
    void imageSizesComeFromEveryFile() throws Exception {
        List<DataOverview.ImageInfo> infos = overview.imageInfos();
        assertEquals(train.images().size() + test.images().size(), infos.size());
        DataOverview.ImageInfo first = infos.get(0);
        BufferedImage decoded = ImageIO.read(first.file().toFile());
        assertEquals(decoded.getWidth(), first.width());
        assertEquals(decoded.getHeight(), first.height());
        assertTrue(infos.stream().allMatch(i -> i.width() > 100 && i.height() > 100), "real X-rays are larger than 100 px");

        Table sizes = overview.sizeTable();
        assertEquals(List.of("NORMAL", "PNEUMONIA", "all"), sizes.column("class"));
        assertEquals(String.valueOf(infos.size()), sizes.get(2, "images"));
        int minWidth = infos.stream().mapToInt(DataOverview.ImageInfo::width).min().orElseThrow();
        assertEquals(String.valueOf(minWidth), sizes.get(2, "width min"));

        XYChart scatter = overview.sizeScatter();
        int points = scatter.getSeriesMap().values().stream().mapToInt(s -> s.getXData().length).sum();
        assertEquals(infos.size(), points);
        Map<String, Long> perLabel = infos.stream().collect(Collectors.groupingBy(DataOverview.ImageInfo::label, Collectors.counting()));
        for (Map.Entry<String, XYSeries> e : scatter.getSeriesMap().entrySet()) {
            assertEquals(perLabel.get(e.getKey()).intValue(), e.getValue().getXData().length, e.getKey());
        }
        CategoryChart hist = overview.sizeHistogram(10);
        double counted = hist.getSeriesMap().values().stream()
                .mapToDouble(s -> s.getYData().stream().mapToDouble(Number::doubleValue).sum()).sum();
        assertEquals(infos.size(), counted, 1e-9);
        int categories = hist.getSeriesMap().get("NORMAL").getXData().size();
        assertTrue(categories >= 1 && categories <= 10, "bins " + categories);
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
        assertEquals(List.of("input size", "rotation", "random resized crop", "horizontal flip", "used in training"),
                overview.augmentationSettings().column("setting"));
        assertEquals("32 px", overview.augmentationSettings().get(0, "value"));
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
