package org.xraydl.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;

import javax.imageio.ImageIO;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

class ImageIteratorsTest {
    private static final float[] MEAN_BGR = {0.406f, 0.456f, 0.485f};
    private static final float[] STD_BGR = {0.225f, 0.224f, 0.229f};

    @Test
    void greyAndColourImagesBecomeThreeChannelTensorsWithSortedOneHotLabels(@TempDir Path dir) throws Exception {
        TestData.copySample(dir, 1, "NORMAL");
        Path grey;
        try (var s = Files.list(dir.resolve("NORMAL"))) {
            grey = s.findFirst().orElseThrow();
        }
        // A colour PNG of another size: red left half, blue right half.
        BufferedImage rgb = new BufferedImage(300, 200, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = rgb.createGraphics();
        g.setColor(Color.RED);
        g.fillRect(0, 0, 150, 200);
        g.setColor(Color.BLUE);
        g.fillRect(150, 0, 150, 200);
        g.dispose();
        Files.createDirectories(dir.resolve("PNEUMONIA"));
        Path colour = dir.resolve("PNEUMONIA/colour.png");
        ImageIO.write(rgb, "png", colour.toFile());

        ImageFolder folder = ImageFolderScanner.scan(dir, "train", false, 0);
        RunConfig c = TestData.tinyConfig(Map.of("resizeRatio", 1.0));
        Preprocessing pre = Preprocessing.of(c, folder.labels());
        DataSet ds = ImageIterators.evaluation(folder.images(), pre, 8).next();
        assertArrayEquals(new long[]{2, 3, 32, 32}, ds.getFeatures().shape());
        assertEquals(List.of("NORMAL", "PNEUMONIA"), folder.labels());
        int greyRow = folder.images().get(0).file().equals(grey) ? 0 : 1;
        assertArrayEquals(new float[]{1, 0}, ds.getLabels().getRow(greyRow).toFloatVector(), "NORMAL is class 0");
        assertArrayEquals(new float[]{0, 1}, ds.getLabels().getRow(1 - greyRow).toFloatVector());

        // Grey: the same raw pixel in all three channels once the normalisation is undone.
        INDArray x = ds.getFeatures();
        for (int[] yx : new int[][]{{5, 5}, {16, 16}, {30, 2}}) {
            float b = raw(x, greyRow, 0, yx), gr = raw(x, greyRow, 1, yx), r = raw(x, greyRow, 2, yx);
            assertEquals(b, gr, 1.0f);
            assertEquals(gr, r, 1.0f);
        }
        // Colour: BGR order, red on the left, blue on the right.
        int row = 1 - greyRow;
        assertEquals(255f, raw(x, row, 2, new int[]{16, 3}), 2f);
        assertEquals(0f, raw(x, row, 0, new int[]{16, 3}), 2f);
        assertEquals(255f, raw(x, row, 0, new int[]{16, 28}), 2f);
        assertEquals(0f, raw(x, row, 2, new int[]{16, 28}), 2f);
    }

    @Test
    void augmentationIsSeededAndFreshEachEpoch() {
        ImageFolder folder = ImageFolderScanner.scan(TestData.sample(), "train", false, 2);
        RunConfig c = TestData.tinyConfig(Map.of("batchSize", 4));
        Preprocessing pre = Preprocessing.of(c, folder.labels());
        float[] epoch1 = sortedFirstBatch(ImageIterators.training(folder.images(), pre, c, 1));
        float[] epoch1Again = sortedFirstBatch(ImageIterators.training(folder.images(), pre, c, 1));
        float[] epoch2 = sortedFirstBatch(ImageIterators.training(folder.images(), pre, c, 2));
        assertArrayEquals(epoch1, epoch1Again, 0f, "same seed, same augmented pixels");
        assertFalse(Arrays.equals(epoch1, epoch2), "another epoch, other random transforms");

        RunConfig plain = TestData.tinyConfig(Map.of("batchSize", 4, "augment", false));
        float[] a = sortedFirstBatch(ImageIterators.training(folder.images(), pre, plain, 1));
        float[] b = sortedFirstBatch(ImageIterators.training(folder.images(), pre, plain, 2));
        assertArrayEquals(a, b, 0f, "without augmentation only the order changes");
        assertNotEquals(0, a.length);
    }

    @Test
    void trainingIteratorReshufflesOnReset() {
        ImageFolder folder = ImageFolderScanner.scan(TestData.sample(), "train", false, 8);
        RunConfig c = TestData.tinyConfig(Map.of("batchSize", 16, "augment", false));
        DataSetIterator it = ImageIterators.training(folder.images(), Preprocessing.of(c, folder.labels()), c, 3);
        INDArray first = it.next().getFeatures().dup();
        it.reset();
        INDArray second = it.next().getFeatures().dup();
        assertNotEquals(first, second, "a new order after reset");
        assertEquals(first.sumNumber().doubleValue(), second.sumNumber().doubleValue(), 1e-1, "the same images");
    }

    private static float raw(INDArray x, int row, int ch, int[] yx) {
        return (x.getFloat(row, ch, yx[0], yx[1]) * STD_BGR[ch] + MEAN_BGR[ch]) * 255f;
    }

    /** Batch pixels sorted, so the comparison ignores the (also seeded) order. */
    private static float[] sortedFirstBatch(DataSetIterator it) {
        float[] v = it.next().getFeatures().dup().reshape(-1).toFloatVector();
        Arrays.sort(v);
        return v;
    }
}
