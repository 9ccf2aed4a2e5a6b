// Runs Kafka's command-line tools one after another in this one JVM, so a session of thirty
// tools pays for JVM start-up once. Each step's stdout, stderr and exit code go to files; a tool
// that calls Exit.exit is stopped by an exception from the exit procedure, and a step that takes
// longer than its budget is abandoned (exit code 124) so the rest still runs.
//
// Usage: java ToolRunner <steps file> <output dir> <bootstrap host:port>
// A steps line is tab-separated: label, stdin file or "-", tool class, arguments...; "@B@" in an
// argument is the bootstrap address and "@W@" the output directory.
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStream;
import java.io.PrintStream;
import java.lang.reflect.InvocationTargetException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.common.utils.Exit;

public class ToolRunner {
    /** Thrown by the trapped exit procedure to unwind a tool that asked to exit. */
    static final class ExitTrapped extends RuntimeException {
        final int code;

        ExitTrapped(int code) {
            super(null, null, false, false);
            this.code = code;
        }
    }

    static final long STEP_BUDGET_SECONDS = 60;

    /** The first exit code the running step asked for: a tool that catches the unwinding
     *  exception and exits again (with 1) still reports the code it first chose. */
    static volatile Integer firstExit;

    public static void main(String[] argv) throws Exception {
        List<String> steps = Files.readAllLines(Path.of(argv[0]), StandardCharsets.UTF_8);
        Path out = Path.of(argv[1]);
        String bootstrap = argv[2];
        Exit.setExitProcedure((code, message) -> { trap(code); });
        Exit.setHaltProcedure((code, message) -> { trap(code); });
        // Tools register shutdown hooks that would pile up over a session; each step closes
        // what it opened before returning.
        Exit.setShutdownHookAdder((name, runnable) -> { });
        PrintStream realOut = System.out;
        PrintStream realErr = System.err;
        InputStream realIn = System.in;
        for (String line : steps) {
            if (line.isBlank() || line.startsWith("#")) continue;
            String[] f = line.split("\t");
            String label = f[0];
            String[] args = Arrays.copyOfRange(f, 3, f.length);
            for (int i = 0; i < args.length; i++) {
                args[i] = args[i].replace("@B@", bootstrap).replace("@W@", out.toString());
            }
            long start = System.nanoTime();
            int rc;
            try (PrintStream o = new PrintStream(new FileOutputStream(out.resolve(label + ".out").toFile()), true, "UTF-8");
                 PrintStream e = new PrintStream(new FileOutputStream(out.resolve(label + ".err").toFile()), true, "UTF-8");
                 InputStream in = f[1].equals("-") ? InputStream.nullInputStream() : new FileInputStream(f[1])) {
                System.setOut(o);
                System.setErr(e);
                System.setIn(in);
                rc = run(f[2], args, e);
                o.flush();
                e.flush();
            } finally {
                System.setOut(realOut);
                System.setErr(realErr);
                System.setIn(realIn);
            }
            Files.writeString(out.resolve(label + ".rc"), rc + "\n");
            realOut.printf("%s rc=%d %d ms%n", label, rc, (System.nanoTime() - start) / 1_000_000);
        }
        realOut.flush();
        Runtime.getRuntime().halt(0); // abandoned steps may have left threads running
    }

    static void trap(int code) {
        if (firstExit == null) firstExit = code;
        throw new ExitTrapped(code);
    }

    /** Runs one tool's main on its own thread within the budget; returns its exit code. */
    static int run(String className, String[] args, PrintStream err) throws Exception {
        ExecutorService pool = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "tool-" + className);
            t.setDaemon(true);
            return t;
        });
        firstExit = null;
        Future<Integer> done = pool.submit(() -> {
            try {
                Class.forName(className).getMethod("main", String[].class).invoke(null, (Object) args);
                return 0;
            } catch (InvocationTargetException e) {
                Throwable cause = e.getCause();
                if (cause instanceof ExitTrapped) return ((ExitTrapped) cause).code;
                cause.printStackTrace(err);
                return 99;
            }
        });
        try {
            int rc = done.get(STEP_BUDGET_SECONDS, TimeUnit.SECONDS);
            return firstExit != null ? firstExit : rc;
        } catch (TimeoutException e) {
            err.println("step abandoned after " + STEP_BUDGET_SECONDS + " s");
            done.cancel(true);
            return 124;
        } finally {
            pool.shutdown();
        }
    }
}
