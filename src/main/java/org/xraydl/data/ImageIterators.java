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
import java.util.Random;
import java.util.function.Supplier;

/**
 * DataVec iterators: {@code ImageRecordReader} (as {@link FastImageRecordReader}) + {@code ParentPathLabelGenerator} over a list of
 * files. Training: reshuffled and freshly augmented every epoch. Evaluation: resize, centre
 * crop, normalise, file order kept and file URIs attached as metadata.
 */
public final class ImageIterators {

    private ImageIterators() {
    }

    public static DataSetIterator training(List<LabeledImage> images, Preprocessing p, RunConfig c, long seed) {
        ImageTransform transform = c.augment()
                ? new AugmentationTransform(new Random(seed), p.imageSize(), c.rotationDegrees(), c.cropScaleMin(), c.flip())
                : new CenterCropTransform(p.resizeTo(), p.imageSize());
        return iterator(new ShuffledCollectionSplit(uris(images), seed), transform, p, c.batchSize(), false);
    }

    public static DataSetIterator evaluation(List<LabeledImage> images, Preprocessing p, int batchSize) {
        return evaluation(images, p, batchSize, new CenterCropTransform(p.resizeTo(), p.imageSize()));
    }

    /** The evaluation iterator with another deterministic view (test-time augmentation). */
    public static DataSetIterator evaluation(List<LabeledImage> images, Preprocessing p, int batchSize, ImageTransform view) {
        return iterator(new CollectionInputSplit(uris(images)), view, p, batchSize, true);
    }

    /**
     * One evaluation iterator per view over the same files in the same order: the plain centre crop alone, or
     * with {@code tta} every {@link TestTimeAugmentation} view (the first being the plain one). Evaluate's
     * {@code --tta} and the end of training average over exactly these.
     */
    public static List<Supplier<DataSetIterator>> evaluationViews(List<LabeledImage> images, Preprocessing p, int batchSize,
                                                                  boolean tta) {
        List<ImageTransform> all = TestTimeAugmentation.views(p);
        List<Supplier<DataSetIterator>> out = new ArrayList<>();
        for (ImageTransform view : tta ? all : all.subList(0, 1)) {
            out.add(() -> evaluation(images, p, batchSize, view));
        }
        return out;
    }

    private static DataSetIterator iterator(InputSplit split, ImageTransform transform, Preprocessing p,
                                            int batchSize, boolean metadata) {
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

    public static List<URI> uris(List<LabeledImage> images) {
        return images.stream().map(i -> i.file().toUri()).toList();
    }
}
