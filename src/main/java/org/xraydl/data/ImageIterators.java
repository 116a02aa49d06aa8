package org.xraydl.data;

import org.datavec.api.split.CollectionInputSplit;
import org.datavec.api.split.InputSplit;
import org.datavec.image.transform.ImageTransform;
import org.deeplearning4j.datasets.datavec.RecordReaderDataSetIterator;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.xraydl.config.RunConfig;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.URI;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Supplier;

/**
 * The image iterators: {@link ImageBatchIterator}s, batches decoded on a {@link DecodePool} (or on the calling
 * thread without one), the same batches as DataVec's {@code RecordReaderDataSetIterator} over an
 * {@code ImageRecordReader} (as {@link FastImageRecordReader}) with {@code UpperCaseParentPathLabelGenerator}
 * labels. Training: reshuffled and freshly augmented every epoch, each image with its own random numbers
 * ({@link ImageRandom}). Evaluation: resize, centre crop (or another deterministic view), normalise, file order
 * kept and file URIs attached as metadata. {@link #dataVec} keeps DataVec's own iterator at hand (the tests'
 * reference).
 */
public final class ImageIterators {

    private ImageIterators() {
    }

    /** The training iterator of the epoch with seed {@code seed}, decoded on the calling thread. */
    public static DataSetIterator training(List<LabeledImage> images, Preprocessing p, RunConfig c, long seed) {
        return training(images, p, c, seed, null);
    }

    /** The training iterator of the epoch with seed {@code seed}, decoded on {@code pool} (null: the calling thread). */
    public static DataSetIterator training(List<LabeledImage> images, Preprocessing p, RunConfig c, long seed, DecodePool pool) {
        ImageBatchIterator.Transforms transforms = c.augment()
                ? (pass, position) -> new AugmentationTransform(ImageRandom.forImage(ImageRandom.passSeed(seed, pass), position),
                        p.imageSize(), c.rotationDegrees(), c.cropScaleMin(), c.flip(), p.filter(), c.brightness(), c.contrast())
                : (pass, position) -> CenterCropTransform.of(p);
        List<URI> uris = uris(images);
        return new ImageBatchIterator(uris, new ShuffledCollectionSplit(uris, seed), transforms, p, c.batchSize(), false, pool);
    }

    public static DataSetIterator evaluation(List<LabeledImage> images, Preprocessing p, int batchSize) {
        return evaluation(images, p, batchSize, (DecodePool) null);
    }

    public static DataSetIterator evaluation(List<LabeledImage> images, Preprocessing p, int batchSize, DecodePool pool) {
        return evaluation(images, p, batchSize, CenterCropTransform.of(p), pool);
    }

    /** The evaluation iterator with another deterministic view (test-time augmentation). */
    public static DataSetIterator evaluation(List<LabeledImage> images, Preprocessing p, int batchSize, ImageTransform view) {
        return evaluation(images, p, batchSize, view, null);
    }

    /**
     * The evaluation iterator with a deterministic view, decoded on {@code pool}: each image with its own copy of
     * {@code view}. A view that is not one of this package's transforms cannot be copied, so it is used as it is,
     * on the calling thread only.
     */
    public static DataSetIterator evaluation(List<LabeledImage> images, Preprocessing p, int batchSize, ImageTransform view,
                                             DecodePool pool) {
        if (view instanceof MatTransform m) {
            return new ImageBatchIterator(uris(images), null, (pass, position) -> m.copy(), p, batchSize, true, pool);
        }
        return new ImageBatchIterator(uris(images), null, (pass, position) -> view, p, batchSize, true, null);
    }

    public static List<Supplier<DataSetIterator>> evaluationViews(List<LabeledImage> images, Preprocessing p, int batchSize,
                                                                  boolean tta) {
        return evaluationViews(images, p, batchSize, tta, null);
    }

    /**
     * One evaluation iterator per view over the same files in the same order: the plain centre crop alone, or
     * with {@code tta} every {@link TestTimeAugmentation} view (the first being the plain one). Evaluate's
     * {@code --tta} and the end of training average over exactly these.
     */
    public static List<Supplier<DataSetIterator>> evaluationViews(List<LabeledImage> images, Preprocessing p, int batchSize,
                                                                  boolean tta, DecodePool pool) {
        List<ImageTransform> all = TestTimeAugmentation.views(p);
        List<Supplier<DataSetIterator>> out = new ArrayList<>();
        for (ImageTransform view : tta ? all : all.subList(0, 1)) {
            out.add(() -> evaluation(images, p, batchSize, view, pool));
        }
        return out;
    }

    /**
     * DataVec's own iterator, the way this project used it before {@link ImageBatchIterator}: a
     * {@link FastImageRecordReader} over {@code split} with {@code transform} (one instance, used by one thread in
     * file order), the saved label order, {@link ImageNormalizer}. For evaluation ({@code metadata}) it gives
     * exactly the batches of {@link #evaluation}; training with it draws every image's augmentation from the one
     * Random of {@code transform}, in file order (the former augmentation stream).
     */
    public static DataSetIterator dataVec(InputSplit split, ImageTransform transform, Preprocessing p, int batchSize,
                                          boolean metadata) {
        // DataVec's ImageRecordReader with a loader that fills the feature arrays in bulk (same values).
        FastImageRecordReader reader = new FastImageRecordReader(p.imageSize(), p.imageSize(), p.channels(),
                new UpperCaseParentPathLabelGenerator(), transform);
        try {
            reader.initialize(split);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        // initialize() replaced the labels with those it found, in HashSet order: restore the saved, sorted ones.
        reader.setLabels(new ArrayList<>(p.labels()));
        RecordReaderDataSetIterator it = new RecordReaderDataSetIterator(reader, batchSize, 1, p.labels().size());
        it.setCollectMetaData(metadata);
        it.setPreProcessor(new ImageNormalizer(p.normalization()));
        return it;
    }

    /** {@link #dataVec} over {@code images} in order with the plain evaluation view and metadata. */
    public static DataSetIterator dataVecEvaluation(List<LabeledImage> images, Preprocessing p, int batchSize) {
        return dataVec(new CollectionInputSplit(uris(images)), CenterCropTransform.of(p), p, batchSize, true);
    }

    public static List<URI> uris(List<LabeledImage> images) {
        return images.stream().map(i -> i.file().toUri()).toList();
    }
}
