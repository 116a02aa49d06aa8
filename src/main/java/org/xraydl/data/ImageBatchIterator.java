package org.xraydl.data;

import org.datavec.api.io.labels.PathLabelGenerator;
import org.datavec.api.records.metadata.RecordMetaDataURI;
import org.datavec.api.util.files.URIUtil;
import org.datavec.image.recordreader.BaseImageRecordReader;
import org.datavec.image.transform.ImageTransform;
import org.nd4j.linalg.api.concurrency.AffinityManager;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.DataSetPreProcessor;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.nd4j.linalg.factory.Nd4j;
import org.xraydl.UserError;

import java.io.File;
import java.io.Serializable;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Image batches decoded on a {@link DecodePool}: what DataVec's {@code RecordReaderDataSetIterator} over an
 * {@code ImageRecordReader} gives (the two are compared bit for bit in the tests), with the images of each
 * batch decoded on several threads. Each image: read and decoded by a {@link FastImageLoader} (DataVec's
 * {@code NativeImageLoader}: the same decoder, channel conversion and errors), its transform (a new instance per
 * image, see {@link Transforms}), and the bulk copy into its own row of the batch's {@code [B, C, H, W]} float
 * array, exactly as the record reader does it; then the labels, one-hot in the order of {@link Preprocessing#labels},
 * the file URIs as metadata if asked for (evaluation: {@code Evaluator} and the featurized engine read them), and
 * the pre-processor: the {@link ImageNormalizer} is applied per image as it is written (the bits of running it on
 * the batch, which the reference does), any other pre-processor on the whole batch, on the thread asking for it.
 *
 * <p>Order: the files as given, or shuffled by a {@link ShuffledCollectionSplit} exactly as the record reader
 * visited them: its constructor shuffles, DataVec's iterator reads one record before its first batch and resets the
 * reader (a second shuffle, the order of the first pass), and every {@link #reset()} after a batch reshuffles.
 *
 * <p>A file that cannot be decoded stops the batch with the scanner's one-line {@link UserError} naming it
 * ({@link ImageChecks#unusable}), raised on the thread asking for the batch whichever thread decoded it; with
 * several bad files in a batch, the first one's.
 */
public final class ImageBatchIterator implements DataSetIterator {

    /**
     * The transform of one image, a new instance per call: DataVec transforms keep state per call (the last
     * image, frame converters), so no instance is shared between threads. {@code pass} counts the resets of the
     * iterator (0 for the first pass), {@code position} is the image's place in the pass's order (0-based).
     */
    @FunctionalInterface
    public interface Transforms {
        ImageTransform forImage(int pass, int position);
    }

    private final List<URI> files;
    private final ShuffledCollectionSplit shuffle;
    private final Transforms transforms;
    private final List<String> labels;
    private final int size;
    private final int channels;
    private final int batchSize;
    private final boolean metadata;
    private final DecodePool pool;
    private final PathLabelGenerator labelGenerator = new UpperCaseParentPathLabelGenerator();
    private DataSetPreProcessor preProcessor;

    private List<URI> order;
    private boolean started;
    private int pass;
    private int cursor;

    /**
     * @param shuffle    the training shuffle (reshuffled as DataVec's iterator reshuffles it), or null: {@code files} in order
     * @param metadata   attach each image's {@code RecordMetaDataURI} (as DataVec's {@code setCollectMetaData(true)})
     * @param pool       the decoding threads, or null: all on the thread asking for the batch
     */
    public ImageBatchIterator(List<URI> files, ShuffledCollectionSplit shuffle, Transforms transforms, Preprocessing p,
                              int batchSize, boolean metadata, DecodePool pool) {
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be at least 1, got " + batchSize);
        }
        this.files = List.copyOf(files);
        this.shuffle = shuffle;
        this.transforms = transforms;
        this.labels = List.copyOf(p.labels());
        this.size = p.imageSize();
        this.channels = p.channels();
        this.batchSize = batchSize;
        this.metadata = metadata;
        this.pool = pool;
        this.preProcessor = new ImageNormalizer(p.normalization());
        this.order = shuffle == null ? this.files : shuffle.currentOrder();
    }

    @Override
    public boolean hasNext() {
        return cursor < order.size();
    }

    @Override
    public DataSet next() {
        return next(batchSize);
    }

    @Override
    public DataSet next(int num) {
        if (num < 1) {
            throw new IllegalArgumentException("number of examples must be at least 1, got " + num);
        }
        if (!hasNext()) {
            throw new NoSuchElementException("no more images in this pass");
        }
        if (!started) {
            started = true;
            if (shuffle != null) { // DataVec's iterator: one record read, then the reader reset, before the first batch
                shuffle.reset();
                order = shuffle.currentOrder();
            }
        }
        int first = cursor;
        int n = Math.min(num, order.size() - first);
        cursor += n;
        File[] batchFiles = new File[n];
        int[] classes = new int[n];
        for (int i = 0; i < n; i++) {
            batchFiles[i] = new File(order.get(first + i));
            classes[i] = classOf(batchFiles[i]);
        }
        INDArray features = Nd4j.createUninitialized(new long[]{n, channels, size, size}, 'c');
        Nd4j.getAffinityManager().tagLocation(features, AffinityManager.Location.HOST);
        INDArray[] rows = new INDArray[n];
        for (int i = 0; i < n; i++) {
            rows[i] = features.tensorAlongDimension(i, 1, 2, 3); // views made here, the workers only write into them
        }
        int passNow = pass;
        // The usual pre-processor, the image normaliser, runs per image as it is decoded (same bits, see
        // FastImageLoader): ND4J ops on this thread would start an OpenMP team of its own beside the training's.
        ImageNormalizer perImage = preProcessor instanceof ImageNormalizer norm && norm.channels() == channels ? norm : null;
        DecodePool.forEach(pool, n, i -> decode(batchFiles[i], rows[i], transforms.forImage(passNow, first + i), perImage));
        Nd4j.getAffinityManager().ensureLocation(features, AffinityManager.Location.DEVICE);

        INDArray y = Nd4j.create(n, labels.size());
        for (int i = 0; i < n; i++) {
            y.putScalar(i, classes[i], 1.0);
        }
        DataSet ds = new DataSet(features, y);
        if (metadata) {
            List<Serializable> meta = new ArrayList<>(n);
            for (File f : batchFiles) {
                meta.add(new RecordMetaDataURI(URIUtil.fileToURI(f), BaseImageRecordReader.class));
            }
            ds.setExampleMetaData(meta);
        }
        if (preProcessor != null && perImage == null) {
            preProcessor.preProcess(ds);
        }
        return ds;
    }

    /** One image into its row: what DataVec's batch reader does per file, with a loader (and transform) of its own. */
    private void decode(File file, INDArray row, ImageTransform transform, ImageNormalizer normalizer) {
        try {
            new FastImageLoader(size, size, channels, transform, normalizer).asMatrixView(file, row);
        } catch (Exception e) {
            throw ImageChecks.failedWhileDecoding(file.toPath(), e);
        }
    }

    private int classOf(File f) {
        String label = labelGenerator.getLabelForPath(f.getPath()).toString();
        int k = labels.indexOf(label);
        if (k < 0) {
            throw new UserError("image " + f + " is in class folder " + label + ", not one of the classes " + labels);
        }
        return k;
    }

    /** A new pass from the first image; a shuffled iterator that has handed out a batch reshuffles first. */
    @Override
    public void reset() {
        if (started && shuffle != null) {
            shuffle.reset();
            order = shuffle.currentOrder();
            pass++;
        }
        cursor = 0;
    }

    @Override
    public boolean resetSupported() {
        return true;
    }

    @Override
    public boolean asyncSupported() {
        return true; // as DataVec's iterator
    }

    @Override
    public int inputColumns() {
        return channels * size * size;
    }

    @Override
    public int totalOutcomes() {
        return labels.size();
    }

    @Override
    public int batch() {
        return batchSize;
    }

    @Override
    public void setPreProcessor(DataSetPreProcessor preProcessor) {
        this.preProcessor = preProcessor;
    }

    @Override
    public DataSetPreProcessor getPreProcessor() {
        return preProcessor;
    }

    @Override
    public List<String> getLabels() {
        return labels;
    }
}
