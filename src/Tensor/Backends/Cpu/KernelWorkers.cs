using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace Engine.Backends.Cpu;

/// <summary>
/// The threads that run the parts of one CPU kernel: ProcessorCount - 1 dedicated workers plus the calling thread,
/// as an OpenMP runtime keeps them. A kernel of a training step lasts tens of microseconds, so the hand-off must cost
/// less than that: a worker that has just finished a part spins briefly (pause instructions, no system call) waiting
/// for the next kernel and only then blocks. The .NET thread pool that <c>Parallel.For</c> uses instead wakes workers
/// through a queue and lets idle ones spin with <c>sched_yield</c> system calls: 15 million of them, 9 million context
/// switches and 36 s of system time in one 2.4-minute <c>engine state-tracking</c> run on a 2-vCPU machine (issue 22
/// saw the same 36 s on an Intel Xeon), and a yielding thread takes the core from the one doing the serial work
/// between kernels when the two vCPUs are hyperthreads of one core.
/// <para>
/// One kernel runs at a time. A kernel started from inside a part, or while another thread's kernel is running,
/// runs its parts one after another on its own thread: never a deadlock, and the result is the same because every
/// caller cuts its work into parts that do not depend on which thread runs them.
/// </para>
/// </summary>
internal static class KernelWorkers
{
    /// <summary>How long an idle worker spins for the next kernel before it blocks: about the gap between two kernels.</summary>
    static readonly long SpinTicks = Stopwatch.Frequency / 5000; // 200 µs

    static readonly object JobGate = new(), Signal = new();
    static readonly Thread[] Workers;
    [ThreadStatic] static bool _insidePart;

    /// <summary>One kernel: its parts are claimed by counting up <see cref="Next"/>, so a worker that wakes late and
    /// holds an earlier kernel finds nothing left to claim in it.</summary>
    sealed class Kernel(long id, Action<int> body, int parts)
    {
        public readonly long Id = id;
        public readonly Action<int> Body = body;
        public readonly int Parts = parts;
        public int Next, Finished;
        public Exception? Error;
    }

    // Null between kernels, so a finished kernel's closure (and the arrays it captures) is not kept alive.
    static Kernel? _current;
    static long _lastId;
    static int _sleepers;

    static KernelWorkers()
    {
        Workers = new Thread[Math.Max(0, Environment.ProcessorCount - 1)];
        for (int i = 0; i < Workers.Length; i++)
        {
            Workers[i] = new Thread(WorkerLoop) { IsBackground = true, Name = $"Engine kernel worker {i + 1}" };
            Workers[i].Start();
        }
    }

    /// <summary>Runs <paramref name="body"/>(0 .. parts - 1), the calling thread taking parts too; rethrows a part's exception.</summary>
    public static void For(int parts, Action<int> body)
    {
        if (parts <= 1 || Workers.Length == 0 || _insidePart || !Monitor.TryEnter(JobGate))
        {
            for (int i = 0; i < parts; i++) body(i);
            return;
        }
        try
        {
            var kernel = new Kernel(++_lastId, body, parts);
            Interlocked.Exchange(ref _current, kernel);
            if (Volatile.Read(ref _sleepers) > 0)
                lock (Signal) Monitor.PulseAll(Signal);
            RunParts(kernel);
            WaitUntilFinished(kernel);
            Volatile.Write(ref _current, null);
            if (kernel.Error is { } error) ExceptionDispatchInfo.Capture(error).Throw();
        }
        finally { Monitor.Exit(JobGate); }
    }

    // The parts still running on workers end within microseconds when the parts are even, so the caller spins with
    // pause instructions; only if a worker has lost its core (another process) does it start yielding.
    static void WaitUntilFinished(Kernel kernel)
    {
        long start = Stopwatch.GetTimestamp();
        var wait = new SpinWait();
        while (Volatile.Read(ref kernel.Finished) < kernel.Parts)
        {
            if (Stopwatch.GetTimestamp() - start < SpinTicks) Thread.SpinWait(16);
            else wait.SpinOnce(sleep1Threshold: -1);
        }
    }

    // Claims parts of the kernel until none are left.
    static void RunParts(Kernel kernel)
    {
        _insidePart = true;
        try
        {
            for (int part; (part = Interlocked.Increment(ref kernel.Next) - 1) < kernel.Parts;)
            {
                try { kernel.Body(part); }
                catch (Exception e) { Interlocked.CompareExchange(ref kernel.Error, e, null); }
                Interlocked.Increment(ref kernel.Finished);
            }
        }
        finally { _insidePart = false; }
    }

    static void WorkerLoop()
    {
        long seen = 0;
        while (true)
        {
            var kernel = WaitForKernel(seen);
            seen = kernel.Id;
            RunParts(kernel);
        }
    }

    // Waits until a kernel newer than the one numbered `seen` is published: spinning first, then blocked on Signal.
    static Kernel WaitForKernel(long seen)
    {
        long start = Stopwatch.GetTimestamp();
        Kernel? kernel;
        while ((kernel = Volatile.Read(ref _current)) is null || kernel.Id == seen)
        {
            if (Stopwatch.GetTimestamp() - start < SpinTicks)
            {
                Thread.SpinWait(32);
                continue;
            }
            lock (Signal)
            {
                Interlocked.Increment(ref _sleepers);
                while (Volatile.Read(ref _current) is not { } next || next.Id == seen) Monitor.Wait(Signal);
                Interlocked.Decrement(ref _sleepers);
            }
        }
        return kernel;
    }
}
