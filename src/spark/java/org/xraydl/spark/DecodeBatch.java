package org.xraydl.spark;

import org.apache.spark.api.java.function.Function;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.xraydl.UserError;
import org.xraydl.config.ConfigLoader;
import org.xraydl.config.RunConfig;
import org.xraydl.data.ImageIterators;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.Preprocessing;

import java.io.IOException;
import java.net.InetAddress;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Runs on the executors: turns a {@link PathBatch} into a normalised, augmented DataSet with the
 * very iterator local training uses ({@link ImageIterators#training}: DataVec's decoder, each image's own
 * {@code AugmentationTransform} or {@code CenterCropTransform}, {@code ImageNormalizer}), decoded on the
 * executor's task thread (no decoding pool: Spark runs as many tasks as the executor has cores). Config and
 * preprocessing travel as JSON strings because the records are not Serializable.
 */
public class DecodeBatch implements Function<PathBatch, DataSet> {
    private static final long serialVersionUID = 1L;

    private final String configJson;
    private final String preprocessingJson;
    private final long epochSeed;
    private transient RunConfig config;
    private transient Preprocessing preprocessing;

    DecodeBatch(RunConfig config, Preprocessing preprocessing, long epochSeed) {
        try {
            this.configJson = ConfigLoader.JSON.writeValueAsString(config);
            this.preprocessingJson = ConfigLoader.JSON.writeValueAsString(preprocessing);
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
        this.epochSeed = epochSeed;
    }

    @Override
    public DataSet call(PathBatch batch) throws Exception {
        if (config == null) {
            config = ConfigLoader.fromJson(configJson);
            preprocessing = ConfigLoader.JSON.readValue(preprocessingJson, Preprocessing.class);
        }
        List<LabeledImage> images = new ArrayList<>(batch.size());
        for (int i = 0; i < batch.size(); i++) {
            Path file = Path.of(URI.create(batch.uris[i]));
            if (!Files.isReadable(file)) {
                throw new UserError("image " + file + " is not readable on Spark executor " + host()
                        + ": the data folder must be visible at the same path on the driver and on every executor (shared file system)");
            }
            images.add(new LabeledImage(file, batch.labels[i], ""));
        }
        // One batch, one iterator: the batch's own seed makes its augmentation independent of which executor decodes it.
        DataSetIterator it = ImageIterators.training(images, preprocessing, config, batchSeed(epochSeed, batch.index));
        try {
            DataSet ds = it.next();
            if (ds.numExamples() != batch.size()) {
                throw new IllegalStateException("decoded " + ds.numExamples() + " images from a batch of " + batch.size());
            }
            ds.setExampleMetaData(null);
            return ds;
        } catch (RuntimeException e) {
            throw new UserError("cannot decode training batch " + batch.index + " on Spark executor " + host() + " ("
                    + images.get(0).file() + (images.size() > 1 ? " and " + (images.size() - 1) + " more" : "") + "): " + e, e);
        }
    }

    static long batchSeed(long epochSeed, int index) {
        return epochSeed * 1_000_003L + index;
    }

    private static String host() {
        try {
            return InetAddress.getLocalHost().getHostName();
        } catch (IOException e) {
            return "?";
        }
    }
}
