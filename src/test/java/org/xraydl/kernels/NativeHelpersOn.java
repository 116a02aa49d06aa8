package org.xraydl.kernels;

import org.junit.jupiter.api.extension.AfterAllCallback;
import org.junit.jupiter.api.extension.BeforeAllCallback;
import org.junit.jupiter.api.extension.ExtensionContext;

/**
 * {@code @ExtendWith(NativeHelpersOn.class)}: DL4J's oneDNN layer helpers on for the test class (the configuration
 * the fast layers replace or build on), the process default restored after it.
 */
public final class NativeHelpersOn implements BeforeAllCallback, AfterAllCallback {
    @Override
    public void beforeAll(ExtensionContext context) {
        NativeHelpers.configure(true);
    }

    @Override
    public void afterAll(ExtensionContext context) {
        NativeHelpers.configure(NativeHelpers.DEFAULT_ON);
    }
}
