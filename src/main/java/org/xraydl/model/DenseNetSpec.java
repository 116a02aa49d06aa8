package org.xraydl.model;

import java.util.List;

/**
 * A DenseNet shape: growth rate, layers per dense block, stem width. Bottleneck (1x1 conv to
 * 4 x growth) and compression 0.5 in the transitions, as in Huang et al. and Keras/torchvision.
 */
public record DenseNetSpec(int growthRate, List<Integer> blocks, int initFeatures, double compression) {

    /** DenseNet-121 exactly: growth 32, blocks 6-12-24-16, 64 stem features, 7x7/2 conv + 3x3/2 max pool. */
    public static DenseNetSpec densenet121() {
        return new DenseNetSpec(32, List.of(6, 12, 24, 16), 64, 0.5);
    }

    /** A compact DenseNet for CPU work: same structure, fewer and thinner layers. */
    public static DenseNetSpec compact(int growth, List<Integer> blocks, int initFeatures) {
        return new DenseNetSpec(growth, List.copyOf(blocks), initFeatures, 0.5);
    }

    /** Channels after the last dense block (the input width of the classifier head). */
    public int outputChannels() {
        int c = initFeatures;
        for (int b = 0; b < blocks.size(); b++) {
            c += blocks.get(b) * growthRate;
            if (b < blocks.size() - 1) {
                c = (int) Math.floor(c * compression);
            }
        }
        return c;
    }
}
