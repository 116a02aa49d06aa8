package org.xraydl.bench;

import org.xraydl.UserError;

import java.util.Arrays;
import java.util.Locale;
import java.util.stream.Collectors;

/**
 * What one timed iteration does, with the same meaning as the PyTorch peer ({@code torch_peer.py}).
 * <ul>
 *   <li>{@code forward}: inference ({@code output(false, x)}), the whole network.</li>
 *   <li>{@code head}: one training step with the trunk frozen (only the new head learns).</li>
 *   <li>{@code full}: one training step with every layer learning.</li>
 *   <li>{@code featurize}: the frozen trunk's forward pass only, as {@code TransferLearningHelper.featurize}
 *       does once per image for the featurized engine.</li>
 * </ul>
 */
public enum Step {
    FORWARD, HEAD, FULL, FEATURIZE;

    public String id() {
        return name().toLowerCase(Locale.ROOT);
    }

    /** Whether the network for this step has its trunk frozen. */
    public boolean trunkFrozen() {
        return this != FULL;
    }

    public static Step parse(String s) {
        try {
            return valueOf(s.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new UserError("unknown step '" + s + "': use one of " + ids());
        }
    }

    public static String ids() {
        return Arrays.stream(values()).map(Step::id).collect(Collectors.joining(", "));
    }
}
