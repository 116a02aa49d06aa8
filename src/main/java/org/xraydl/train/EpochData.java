package org.xraydl.train;

import org.nd4j.linalg.dataset.api.iterator.DataSetIterator;
import org.xraydl.config.RunConfig;
import org.xraydl.data.LabeledImage;
import org.xraydl.data.Preprocessing;

import java.util.List;
import java.util.function.Supplier;

/**
 * What an engine gets for one epoch: the training files (for engines that read images where
 * they train, like Spark executors) and a local iterator over them, freshly shuffled and augmented.
 */
public record EpochData(int epoch, List<LabeledImage> images, Preprocessing preprocessing, RunConfig config,
                        Supplier<DataSetIterator> iterator) {
}
