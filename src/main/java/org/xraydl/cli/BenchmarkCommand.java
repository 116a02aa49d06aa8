package org.xraydl.cli;

import picocli.CommandLine.Command;

import java.util.concurrent.Callable;

@Command(name = "benchmark", mixinStandardHelpOptions = true, description = "Speed benchmarks (see issue: not built yet).")
public class BenchmarkCommand implements Callable<Integer> {
    @Override
    public Integer call() {
        throw new org.xraydl.UserError("benchmark is not implemented yet");
    }
}
