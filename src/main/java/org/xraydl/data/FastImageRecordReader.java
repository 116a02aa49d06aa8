package org.xraydl.data;

import org.datavec.api.io.labels.PathLabelGenerator;
import org.datavec.api.split.InputSplit;
import org.datavec.image.loader.NativeImageLoader;
import org.datavec.image.recordreader.ImageRecordReader;
import org.datavec.image.transform.ImageTransform;

import java.io.IOException;

/**
 * DataVec's {@link ImageRecordReader} reading through a {@link FastImageLoader}. DataVec 1.0.0-M2.1 creates
 * its {@code NativeImageLoader(height, width, channels, imageTransform)} in {@code initialize} only when the
 * protected {@code imageLoader} field is still null (every other initialize ends up there too); this puts
 * the fast loader with the same settings in first. Everything else (labels, batches, metadata) is DataVec's.
 */
public class FastImageRecordReader extends ImageRecordReader {

    public FastImageRecordReader(long height, long width, long channels, PathLabelGenerator labelGenerator,
                                 ImageTransform imageTransform) {
        super(height, width, channels, labelGenerator, imageTransform);
    }

    @Override
    public void initialize(InputSplit split) throws IOException {
        // Null: the fresh reader, or initialize(split, transform) reset it for a new transform. Exactly
        // NativeImageLoader: initialize(conf, split) made DataVec's own with these settings.
        if (imageLoader == null || imageLoader.getClass() == NativeImageLoader.class) {
            imageLoader = new FastImageLoader(height, width, channels, imageTransform);
        }
        super.initialize(split);
    }

    /** The loader in use (for tests). */
    public NativeImageLoader loader() {
        return (NativeImageLoader) imageLoader;
    }
}
