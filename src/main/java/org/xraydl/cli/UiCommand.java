package org.xraydl.cli;

import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

@Command(name = "ui", mixinStandardHelpOptions = true, description = "Serve a finished run's training stats (not built yet).")
public class UiCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new org.xraydl.UserError("ui is not implemented yet");
    }
}
