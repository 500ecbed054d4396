using LongLM.Kernels;
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

    /// <summary>Stamps each item with the call's number, so a call that returns before all its chunks ran shows.</summary>
    private sealed class StampJob : RangeJob
    {
        public int[] Stamp = new int[256];
        public int Call;

        public override void Run(int start, int end)
        {
            for (int i = start; i < end; i++)
            {
                Thread.SpinWait(2);
                Stamp[i] = Call;
            }
        }

        public override void Clear()
        {
        }
    }

    [Fact]
    public void ManyCalls_GrowingChunkCounts_EachCallWaitsForAllItsChunks()
    {
        // A helper queued for one call can start after the caller has claimed every chunk itself and moved on to the
        // next call. Alternating 8 and 256 items makes the next call have more chunks than the last; with the next
        // call's chunk count published before its generation, such a late helper claimed a chunk of the new call under
        // the old generation and its completion was counted twice, so the call returned with a chunk unfinished
        // (seen once in CI as logits off by 15). Sixteen callers on two cores keep helpers late, and each caller widens
        // the moment between writing a call's fields and opening it (a few nanoseconds otherwise): with the old order
        // this test failed within about 10 s; without the widening it did not fail in 40 s.
        var errors = new System.Collections.Concurrent.ConcurrentBag<string>();
        var deadline = System.Diagnostics.Stopwatch.StartNew();
        var callers = Enumerable.Range(0, 16).Select(_ => new Thread(() =>
        {
            var job = new StampJob();
            CpuParallel.t_publishDelaySpins = 200;
            for (int call = 1; deadline.Elapsed < TimeSpan.FromSeconds(20) && errors.IsEmpty; call++)
            {
                int count = call % 2 == 0 ? 256 : 8;
                job.Call = call;
                CpuParallel.Run(job, count, grain: 1, workers: 8);
                for (int i = 0; i < count; i++)
                    if (job.Stamp[i] != call) { errors.Add($"call {call} ({deadline.Elapsed.TotalSeconds:F1} s): item {i} not run before the call returned"); break; }
            }
        })).ToArray();
        foreach (var t in callers) t.Start();
        foreach (var t in callers) t.Join();
        Assert.Empty(errors);
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

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void PrefillMatMul_OddShape_IsBitIdenticalForAnyThreadCount(DType dtype)
    {
        // 389 rows x 293 outputs over 203 inputs: the tiled GEMM cuts rows and outputs into blocks with tails, and a
        // different thread count gives each thread different blocks; no value may change. Expected: the 1-thread run.
        const int rows = 389, inDim = 203, outDim = 293;
        var x = Inputs.Random(rows * inDim, 51);
        using var w = new NativeWeight(Inputs.Random(outDim * inDim, 52), outDim, inDim, dtype);
        using var b = new NativeWeight(Inputs.Random(outDim, 53), 1, outDim, DType.F32);
        float[] Run(CpuBackend backend)
        {
            using (backend)
            {
                using var dx = backend.UploadNew(x);
                using var dy = backend.Allocate(rows * outDim);
                using var dw = backend.LoadWeight(w.View);
                using var db = backend.LoadWeight(b.View);
                backend.MatMul(dx, dw, db, dy, rows);
                var y = new float[rows * outDim];
                backend.Download(dy, y);
                return y;
            }
        }
        float[] one = Run(new CpuBackend(1));
        foreach (int threads in new[] { 2, 3, 7 })
            Assert.True(one.AsSpan().SequenceEqual(Run(new CpuBackend(threads))), $"{threads} threads differ from 1");
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
