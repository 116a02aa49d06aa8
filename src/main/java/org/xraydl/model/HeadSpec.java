package org.xraydl.model;

import java.util.List;

/**
 * The new classifier head: hidden dense widths (ReLU), each followed by dropout with the given
 * drop probability (PyTorch's convention), then a softmax output trained with cross-entropy
 * (the paper's LogSoftmax + NLLLoss), optionally class-weighted.
 */
public record HeadSpec(List<Integer> hidden, List<Double> dropout, int numClasses, double[] classWeights) {
}
