using LongLM.Kernels.Cpu;
using LongLM.Models;

namespace LongLM.Tests.Kernels;

/// <summary>CpuBackend(threads): the limit really bounds the threads an op runs on, and never changes a number.</summary>
public sealed class CpuThreadsTests
{
    /// <summary>Records which threads run chunks and how many run at once; chunks optionally wait for a second thread.</summary>
    private sealed class ProbeJob : RangeJob
    {
        private int _running;
        public int MaxRunning;
        public bool WaitForPeer;
        public readonly HashSet<int> Threads = [];

        public override void Run(int start, int end)
        {
            int now = Interlocked.Increment(ref _running);
            int seen;
            while ((seen = Volatile.Read(ref MaxRunning)) < now && Interlocked.CompareExchange(ref MaxRunning, now, seen) != seen)
            {
            }
            lock (Threads) Threads.Add(Environment.CurrentManagedThreadId);
            // Hold the chunk until a second thread is inside one too (or 10 s pass): shows how many can run together.
            var wait = System.Diagnostics.Stopwatch.StartNew();
            while (WaitForPeer && Volatile.Read(ref _running) < 2 && wait.Elapsed < TimeSpan.FromSeconds(10)) Thread.Sleep(1);
            Thread.Sleep(1);
            Interlocked.Decrement(ref _running);
        }

        public override void Clear()
        {
        }
    }

    [Fact]
    public void OneWorker_RunsEveryChunkOnTheCallingThread()
    {
        var job = new ProbeJob();
        CpuParallel.Run(job, count: 64, grain: 1, workers: 1);
        Assert.Equal([Environment.CurrentManagedThreadId], job.Threads);
        Assert.Equal(1, job.MaxRunning);
    }

    [Fact]
    public void TwoWorkers_RunTwoChunksAtOnce_NeverMore()
    {
        // 64 chunks that each wait for a peer: with room for two threads, two run together; a third never joins.
        var job = new ProbeJob { WaitForPeer = true };
        CpuParallel.Run(job, count: 64, grain: 1, workers: 2);
        Assert.Equal(2, job.MaxRunning);
        Assert.InRange(job.Threads.Count, 2, 2);
    }

    [Fact]
    public void Constructor_ChecksTheRange()
    {
        Assert.Equal(Environment.ProcessorCount, new CpuBackend().Threads);
        Assert.Equal(1, new CpuBackend(1).Threads);
        Assert.Equal(CpuBackend.MaxThreads, new CpuBackend(CpuBackend.MaxThreads).Threads);
        Assert.Throws<ArgumentOutOfRangeException>(() => new CpuBackend(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new CpuBackend(CpuBackend.MaxThreads + 1));
    }

    [Fact]
    public void OneThread_LogitsAreBitIdenticalToEveryCore()
    {
        // 300 tokens: MatMul, attention and norms all split into several chunks on the default backend.
        int[] ids = [1, .. Enumerable.Range(0, 299).Select(i => 3 + i * 7 % 500)];
        float[] Logits(CpuBackend backend)
        {
            using var lm = LanguageModel.Load(ModelFolderCopy.Stories260K, backend);
            return lm.Logits(ids, chunk: 64);
        }
        float[] every = Logits(new CpuBackend()), one = Logits(new CpuBackend(1)), three = Logits(new CpuBackend(3));
        Assert.Equal(every.Length, one.Length);
        Assert.True(every.AsSpan().SequenceEqual(one), "1 thread differs from every core");
        Assert.True(every.AsSpan().SequenceEqual(three), "3 threads differ from every core");
    }
}
