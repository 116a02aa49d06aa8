package org.xraydl.data;

import org.bytedeco.javacpp.indexer.DoubleIndexer;
import org.bytedeco.javacpp.indexer.FloatIndexer;
import org.bytedeco.javacpp.indexer.Indexer;
import org.bytedeco.javacpp.indexer.IntIndexer;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Rect;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.datavec.api.split.CollectionInputSplit;
import org.datavec.api.split.InputSplit;
import org.datavec.image.loader.NativeImageLoader;
import org.datavec.image.recordreader.ImageRecordReader;
import org.datavec.image.transform.ImageTransform;
import org.deeplearning4j.datasets.datavec.RecordReaderDataSetIterator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.xraydl.TestData;
import org.xraydl.config.RunConfig;
import org.xraydl.model.ModelFactory;
import org.xraydl.model.io.ModelBundle;
import org.xraydl.predict.Predictor;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static org.bytedeco.opencv.global.opencv_core.CV_16S;
import static org.bytedeco.opencv.global.opencv_core.CV_16U;
import static org.bytedeco.opencv.global.opencv_core.CV_32F;
import static org.bytedeco.opencv.global.opencv_core.CV_32S;
import static org.bytedeco.opencv.global.opencv_core.CV_64F;
import static org.bytedeco.opencv.global.opencv_core.CV_8S;
import static org.bytedeco.opencv.global.opencv_core.CV_8U;
import static org.bytedeco.opencv.global.opencv_core.CV_8UC3;
import static org.bytedeco.opencv.global.opencv_core.CV_MAKETYPE;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imwrite;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@link FastImageLoader} against DataVec's own {@code NativeImageLoader} (its per-element loop is the
 * reference): the same floats, bit for bit, for every depth, channel count, continuous and ROI Mats, standalone
 * and view targets; and the project's iterators and predictor against plain DataVec readers and loaders.
 */
class FastImageLoaderTest {
    private static final int[] DEPTHS = {CV_8U, CV_8S, CV_16U, CV_16S, CV_32S, CV_32F, CV_64F};
    private static final int ROWS = 7;
    private static final int COLS = 5;

    @Test
    void everyDepthAndChannelCountGivesDataVecsFloatsBitForBit() throws IOException {
        int cases = 0;
        for (int depth : DEPTHS) {
            for (int channels : new int[]{1, 3, 4}) {
                for (boolean roi : new boolean[]{false, true}) {
                    Mat mat = randomMat(depth, channels, roi, new Random(31L * depth + channels));
                    String what = "depth " + depth + ", " + channels + " channel(s)" + (roi ? ", ROI" : "");
                    assertEquals(!roi, mat.isContinuous(), what);

                    // A standalone [C, H, W] target (what asMatrix fills).
                    INDArray expected = Nd4j.create(DataType.FLOAT, channels, ROWS, COLS);
                    INDArray actual = Nd4j.create(DataType.FLOAT, channels, ROWS, COLS);
                    assertTrue(FastImageLoader.fastPathApplies(mat, actual), what + " takes the fast path");
                    new NativeImageLoader().asMatrixView(mat, expected);
                    new FastImageLoader().asMatrixView(mat, actual);
                    assertBitsEqual(expected, actual, what);

                    // asMatrix: its own array, reshaped to [1, C, H, W].
                    assertBitsEqual(new NativeImageLoader().asMatrix(mat), new FastImageLoader().asMatrix(mat), what + ", asMatrix");

                    // A slice of a batch array (what the record reader's batches fill): a view with a buffer offset.
                    INDArray expectedBatch = Nd4j.valueArrayOf(new long[]{3, channels, ROWS, COLS}, -7f, DataType.FLOAT);
                    INDArray actualBatch = expectedBatch.dup();
                    INDArray view = actualBatch.tensorAlongDimension(1, 1, 2, 3);
                    assertTrue(view.isView() && view.data().offset() > 0, "a real view");
                    assertTrue(FastImageLoader.fastPathApplies(mat, view), what + ", view takes the fast path");
                    new NativeImageLoader().asMatrixView(mat, expectedBatch.tensorAlongDimension(1, 1, 2, 3));
                    new FastImageLoader().asMatrixView(mat, view);
                    assertBitsEqual(expectedBatch, actualBatch, what + ", batch view (the other slices untouched)");
                    assertEquals(-7f, actualBatch.getFloat(0, 0, 0, 0));
                    assertEquals(-7f, actualBatch.getFloat(2, channels - 1, ROWS - 1, COLS - 1));
                    cases++;
                }
            }
        }
        assertEquals(42, cases);
    }

    @Test
    void aNormalisingLoaderWritesTheBitsOfTheRawLoaderFollowedByTheBatchNormaliser() throws IOException {
        int cases = 0;
        for (String mode : new String[]{"imagenet", "vgg"}) {
            ImageNormalizer normalizer = new ImageNormalizer(mode);
            // 8-bit, continuous and ROI (the look-up tables); 16-bit and float (written raw, then normalised in Java).
            for (int depth : new int[]{CV_8U, CV_16U, CV_32F}) {
                for (boolean roi : new boolean[]{false, true}) {
                    Mat mat = randomMat(depth, 3, roi, new Random(17L * depth + (roi ? 1 : 0)));
                    String what = mode + ", depth " + depth + (roi ? ", ROI" : "");
                    // The reference: DataVec's raw values in a batch slice, then ND4J's ops on the whole batch.
                    INDArray expected = Nd4j.valueArrayOf(new long[]{2, 3, ROWS, COLS}, 9f, DataType.FLOAT);
                    new NativeImageLoader().asMatrixView(mat, expected.tensorAlongDimension(1, 1, 2, 3));
                    normalizer.normalize(expected);
                    INDArray actual = Nd4j.valueArrayOf(new long[]{2, 3, ROWS, COLS}, 9f, DataType.FLOAT);
                    new FastImageLoader(ROWS, COLS, 3, null, normalizer).asMatrixView(mat, actual.tensorAlongDimension(1, 1, 2, 3));
                    assertBitsEqual(expected.tensorAlongDimension(1, 1, 2, 3), actual.tensorAlongDimension(1, 1, 2, 3), what);
                    assertEquals(9f, actual.getFloat(0, 2, ROWS - 1, COLS - 1), what + ": the other slice untouched");
                    assertNotEquals(expected.getFloat(1, 0, 0, 0), expected.getFloat(0, 0, 0, 0), what + ": the image was written");
                    cases++;
                }
            }
        }
        assertEquals(12, cases);
        assertThrows(IllegalArgumentException.class, () -> new FastImageLoader(4, 4, 1, null, new ImageNormalizer("imagenet")),
                "a 3-channel normaliser on a 1-channel loader");
    }

    @Test
    void channelsLandInOpenCvOrderOnePlaneEach() throws IOException {
        // Independent of both loaders' code: a BGR Mat of constant (1, 2, 3) gives planes 1, 2, 3 (no reversal).
        Mat mat = new Mat(ROWS, COLS, CV_8UC3, new Scalar(1, 2, 3, 0));
        INDArray x = new FastImageLoader().asMatrix(mat);
        assertArrayEquals(new long[]{1, 3, ROWS, COLS}, x.shape());
        for (int k = 0; k < 3; k++) {
            INDArray plane = x.get(NDArrayIndex.point(0), NDArrayIndex.point(k), NDArrayIndex.all(), NDArrayIndex.all());
            assertEquals(k + 1, plane.minNumber().floatValue());
            assertEquals(k + 1, plane.maxNumber().floatValue());
        }
        assertEquals(new NativeImageLoader().asMatrix(mat), x);
    }

    @Test
    void specialValuesAreConvertedLikeDataVecsJavaCasts() throws IOException {
        int[] ints = {Integer.MAX_VALUE, Integer.MIN_VALUE, 16777217, -16777219, 123456789, 33554435, 0, -1};
        float[] floats = {Float.NaN, Float.intBitsToFloat(0x7fc12345), -0f, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
                1e-40f, Float.MIN_VALUE, -Float.MAX_VALUE};
        double[] doubles = {0.1, 1e300, -1e300, 1e-40, 1e-50, Double.NaN, 1 + Math.ulp(1f) / 2, 1 + Math.ulp(1f) * 1.5,
                -0.0, 3.4028235677973366e38, Double.MIN_VALUE, 16777217.0};
        for (int channels : new int[]{1, 3}) {
            for (boolean roi : new boolean[]{false, true}) {
                check(fill(CV_32S, channels, roi, (idx, n) -> ((IntIndexer) idx).put(n / COLS / channels % ROWS, n / channels % COLS, n % channels, ints[n % ints.length])));
                check(fill(CV_32F, channels, roi, (idx, n) -> ((FloatIndexer) idx).put(n / COLS / channels % ROWS, n / channels % COLS, n % channels, floats[n % floats.length])));
                check(fill(CV_64F, channels, roi, (idx, n) -> ((DoubleIndexer) idx).put(n / COLS / channels % ROWS, n / channels % COLS, n % channels, doubles[n % doubles.length])));
            }
        }
    }

    @Test
    void targetsOutsideTheFastPathUseDataVecsLoopUnchanged() throws IOException {
        Mat mat = randomMat(CV_8U, 3, true, new Random(5));
        // A view inside a batch array that is not c-contiguous: slice 1 of an [N, W, H, C] batch, permuted to [C, H, W].
        INDArray pExpected = Nd4j.valueArrayOf(new long[]{2, COLS, ROWS, 3}, -7f, DataType.FLOAT);
        INDArray pActual = pExpected.dup();
        INDArray pView = pActual.get(NDArrayIndex.point(1)).permute(2, 1, 0);
        assertTrue(pView.isView() && pView.data().offset() > 0);
        assertFalse(FastImageLoader.fastPathApplies(mat, pView));
        new NativeImageLoader().asMatrixView(mat, pExpected.get(NDArrayIndex.point(1)).permute(2, 1, 0));
        new FastImageLoader().asMatrixView(mat, pView);
        assertBitsEqual(pExpected, pActual, "permuted batch view");
        assertEquals(-7f, pActual.getFloat(0, COLS - 1, ROWS - 1, 2), "slice 0 untouched");
        assertNotEquals(-7f, pActual.getFloat(1, 0, 0, 0), "slice 1 written");

        // A double batch array's slice.
        INDArray dbExpected = Nd4j.valueArrayOf(new long[]{3, 3, ROWS, COLS}, -7.0, DataType.DOUBLE);
        INDArray dbActual = dbExpected.dup();
        assertFalse(FastImageLoader.fastPathApplies(mat, dbActual.tensorAlongDimension(1, 1, 2, 3)));
        new NativeImageLoader().asMatrixView(mat, dbExpected.tensorAlongDimension(1, 1, 2, 3));
        new FastImageLoader().asMatrixView(mat, dbActual.tensorAlongDimension(1, 1, 2, 3));
        assertEquals(dbExpected, dbActual);

        // A strided slice (of an 'f'-order batch): DataVec's loop bounds its indexer to C*H*W elements from the
        // view's start and fails; so does the fallback, the same way.
        INDArray fBatch = Nd4j.create(DataType.FLOAT, new long[]{3, 3, ROWS, COLS}, 'f');
        assertFalse(FastImageLoader.fastPathApplies(mat, fBatch.tensorAlongDimension(2, 1, 2, 3)));
        assertThrows(IndexOutOfBoundsException.class,
                () -> new NativeImageLoader().asMatrixView(mat, fBatch.tensorAlongDimension(2, 1, 2, 3)));
        assertThrows(IndexOutOfBoundsException.class,
                () -> new FastImageLoader().asMatrixView(mat, fBatch.tensorAlongDimension(2, 1, 2, 3)));
    }

    @Test
    void theIteratorsGiveExactlyWhatPlainDataVecReadersGive(@TempDir Path dir) throws IOException {
        List<LabeledImage> images = writeImages(dir);
        RunConfig plain = TestData.tinyConfig(Map.of("augment", false, "batchSize", 3));
        RunConfig augmented = TestData.tinyConfig(Map.of("augment", true, "batchSize", 3));
        Preprocessing pre = Preprocessing.of(plain, List.of("NORMAL", "PNEUMONIA"));
        List<java.net.URI> uris = ImageIterators.uris(images);
        int size = pre.imageSize();

        DataSetIterator dataVecPath = ImageIterators.dataVecEvaluation(images, pre, 3);
        assertInstanceOf(FastImageLoader.class,
                ((FastImageRecordReader) ((RecordReaderDataSetIterator) dataVecPath).getRecordReader()).loader());
        assertSameBatches(dataVec(new CollectionInputSplit(uris), CenterCropTransform.of(pre), pre, 3, true),
                dataVecPath, "DataVec evaluation path");
        try (DecodePool pool = DecodePool.of(3)) {
            assertSameBatches(dataVec(new CollectionInputSplit(uris), CenterCropTransform.of(pre), pre, 3, true),
                    ImageIterators.evaluation(images, pre, 3, pool), "evaluation");
            assertSameBatches(dataVec(new ShuffledCollectionSplit(uris, 4), CenterCropTransform.of(pre), pre, 3, false),
                    ImageIterators.training(images, pre, plain, 4, pool), "training without augmentation");
            assertSameBatches(dataVec(new ShuffledCollectionSplit(uris, 9), new PerImageAugmentation(9, size, augmented), pre, 3, false),
                    ImageIterators.training(images, pre, augmented, 9, pool), "training with augmentation");
        }
    }

    /**
     * Training augmentation as the plain DataVec reader applies it, image after image with one transform: each call
     * gets a new AugmentationTransform whose Random is seeded for the image's position in the epoch (SplitMix64:
     * the (k+1)-th value of SplittableRandom(first value of SplittableRandom(epoch seed))). DataVec's iterator
     * decodes the first file once before its first batch (then resets the reader and reshuffles): that call is not
     * an image of the epoch, so the count starts at -1.
     */
    private static final class PerImageAugmentation extends org.datavec.image.transform.BaseImageTransform<Object> {
        private final long epochSeed;
        private final int size;
        private final RunConfig c;
        private int position = -1;

        PerImageAugmentation(long epochSeed, int size, RunConfig c) {
            super(null);
            this.epochSeed = epochSeed;
            this.size = size;
            this.c = c;
        }

        @Override
        protected org.datavec.image.data.ImageWritable doTransform(org.datavec.image.data.ImageWritable image, Random ignored) {
            int k = position++;
            if (k < 0) {
                return image;
            }
            java.util.SplittableRandom stream = new java.util.SplittableRandom(new java.util.SplittableRandom(epochSeed).nextLong());
            long seed = 0;
            for (int i = 0; i <= k; i++) {
                seed = stream.nextLong();
            }
            return new AugmentationTransform(new Random(seed), size, c.rotationDegrees(), c.cropScaleMin(), c.flip(),
                    Resampling.of(c.resampling())).transform(image);
        }
    }

    @Test
    void thePredictorsInputIsDataVecsLoaderOutput(@TempDir Path dir) throws IOException {
        List<LabeledImage> images = writeImages(dir);
        RunConfig c = TestData.tinyConfig(Map.of());
        Preprocessing pre = Preprocessing.of(c, List.of("NORMAL", "PNEUMONIA"));
        Predictor predictor = new Predictor(new ModelBundle(ModelFactory.create(c, 2, null), pre, c, Map.of()));
        NativeImageLoader dataVec = new NativeImageLoader(pre.imageSize(), pre.imageSize(), pre.channels(),
                CenterCropTransform.of(pre));
        ImageNormalizer normalizer = new ImageNormalizer(pre.normalization());
        for (LabeledImage image : images) {
            INDArray expected = normalizer.normalize(dataVec.asMatrix(image.file().toFile()));
            assertBitsEqual(expected, predictor.input(image.file()), image.file().toString());
        }
    }

    // --- helpers

    /** Grey and colour JPEG and PNG files (8- and 16-bit, with alpha), odd sizes, written by OpenCV. */
    private static List<LabeledImage> writeImages(Path dir) throws IOException {
        Files.createDirectories(dir.resolve("NORMAL"));
        Files.createDirectories(dir.resolve("PNEUMONIA"));
        Random r = new Random(17);
        List<LabeledImage> out = new ArrayList<>();
        Object[][] specs = {
                {"NORMAL/grey.jpg", CV_8U, 1, 45, 37}, {"NORMAL/colour.png", CV_8U, 3, 40, 52},
                {"NORMAL/grey16.png", CV_16U, 1, 33, 41}, {"PNEUMONIA/colour.jpg", CV_8U, 3, 39, 39},
                {"PNEUMONIA/alpha.png", CV_8U, 4, 50, 35}, {"PNEUMONIA/grey.png", CV_8U, 1, 36, 47},
                {"PNEUMONIA/colour16.png", CV_16U, 3, 38, 44},
        };
        for (Object[] s : specs) {
            Path f = dir.resolve((String) s[0]);
            Mat m = new Mat((Integer) s[3], (Integer) s[4], CV_MAKETYPE((Integer) s[1], (Integer) s[2]));
            Indexer idx = m.createIndexer();
            double max = (Integer) s[1] == CV_16U ? 65535 : 255;
            for (long i = 0; i < m.rows(); i++) {
                for (long j = 0; j < m.cols(); j++) {
                    for (long k = 0; k < m.channels(); k++) {
                        idx.putDouble(new long[]{i, j, k}, Math.floor(r.nextDouble() * (max + 1)));
                    }
                }
            }
            idx.release();
            assertTrue(imwrite(f.toString(), m), "wrote " + f);
            out.add(new LabeledImage(f, f.getParent().getFileName().toString(), f.getFileName().toString()));
        }
        return out;
    }

    /** A plain DataVec ImageRecordReader (its own NativeImageLoader) set up like ImageIterators does it. */
    private static DataSetIterator dataVec(InputSplit split, ImageTransform transform, Preprocessing p, int batch,
                                           boolean metadata) throws IOException {
        ImageRecordReader reader = new ImageRecordReader(p.imageSize(), p.imageSize(), p.channels(),
                new UpperCaseParentPathLabelGenerator(), transform);
        reader.initialize(split);
        reader.setLabels(new ArrayList<>(p.labels()));
        RecordReaderDataSetIterator it = new RecordReaderDataSetIterator(reader, batch, 1, p.labels().size());
        it.setCollectMetaData(metadata);
        it.setPreProcessor(new ImageNormalizer(p.normalization()));
        return it;
    }

    private static void assertSameBatches(DataSetIterator expected, DataSetIterator actual, String what) {
        int batches = 0;
        while (expected.hasNext()) {
            assertTrue(actual.hasNext(), what);
            DataSet e = expected.next();
            DataSet a = actual.next();
            assertBitsEqual(e.getFeatures(), a.getFeatures(), what + ", batch " + batches);
            assertEquals(e.getLabels(), a.getLabels(), what);
            batches++;
        }
        assertFalse(actual.hasNext(), what);
        assertEquals(3, batches, what + ": 7 images in batches of 3");
    }

    private interface Filler {
        void put(Indexer idx, int n);
    }

    /** A 7x5 Mat (or a 7x5 ROI of an 11x9 one) with special values written at every element. */
    private static Mat fill(int depth, int channels, boolean roi, Filler filler) {
        Mat full = roi ? new Mat(11, 9, CV_MAKETYPE(depth, channels)) : new Mat(ROWS, COLS, CV_MAKETYPE(depth, channels));
        Mat mat = roi ? full.apply(new Rect(2, 1, COLS, ROWS)) : full;
        Indexer idx = mat.createIndexer();
        for (int n = 0; n < ROWS * COLS * channels; n++) {
            filler.put(idx, n);
        }
        idx.release();
        return mat;
    }

    private static void check(Mat mat) throws IOException {
        INDArray expected = Nd4j.create(DataType.FLOAT, mat.channels(), ROWS, COLS);
        INDArray actual = Nd4j.create(DataType.FLOAT, mat.channels(), ROWS, COLS);
        assertTrue(FastImageLoader.fastPathApplies(mat, actual));
        new NativeImageLoader().asMatrixView(mat, expected);
        new FastImageLoader().asMatrixView(mat, actual);
        assertBitsEqual(expected, actual, "special values, depth " + mat.depth() + ", " + mat.channels() + " channel(s)");
    }

    /** A 7x5 Mat, or a non-continuous 7x5 ROI of an 11x9 Mat, of random values over the depth's range. */
    private static Mat randomMat(int depth, int channels, boolean roi, Random r) {
        double lo;
        double hi;
        if (depth == CV_8U) {
            lo = 0;
            hi = 255;
        } else if (depth == CV_8S) {
            lo = -128;
            hi = 127;
        } else if (depth == CV_16U) {
            lo = 0;
            hi = 65535;
        } else if (depth == CV_16S) {
            lo = -32768;
            hi = 32767;
        } else if (depth == CV_32S) {
            lo = Integer.MIN_VALUE;
            hi = Integer.MAX_VALUE;
        } else {
            lo = -1e6;
            hi = 1e6;
        }
        boolean integral = depth != CV_32F && depth != CV_64F;
        return fill(depth, channels, roi, (idx, n) -> {
            double v = lo + r.nextDouble() * (hi - lo);
            idx.putDouble(new long[]{n / COLS / channels % ROWS, n / channels % COLS, n % channels},
                    integral ? Math.floor(v) : v);
        });
    }

    /** Same shape and the same float bits everywhere (NaN payloads and -0 included). */
    private static void assertBitsEqual(INDArray expected, INDArray actual, String what) {
        assertArrayEquals(expected.shape(), actual.shape(), what);
        float[] e = expected.dup('c').reshape(expected.length()).toFloatVector();
        float[] a = actual.dup('c').reshape(actual.length()).toFloatVector();
        for (int i = 0; i < e.length; i++) {
            assertEquals(Float.floatToRawIntBits(e[i]), Float.floatToRawIntBits(a[i]),
                    what + ": element " + i + " " + e[i] + " vs " + a[i]);
        }
    }
}
