using System.Diagnostics;
using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using LongLM.Kernels.Cpu;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;

namespace LongLM.Runtime.Evaluation;

/// <summary>
/// Negative log-likelihood by position over a long token stream (LM-Infinite's evaluation, algorithms.md 2.8,
/// extended to stream through the KV cache): tokens go through the model chunk by chunk, every token after the
/// first is scored (the last row of a chunk scores the next chunk's first token), and only per-bucket sums and a
/// fixed-size curve are kept, so memory does not grow with the stream.
/// </summary>
public static class PerplexityEvaluator
{
    /// <summary>Bucket edges: [1,512), [512,1024), [1024,2048), then doubling.</summary>
    public static long BucketStart(long position) => position < 512 ? 1 : 1L << (int)(63 - long.LeadingZeroCount(position));

    /// <summary>
    /// Scores <paramref name="count"/> tokens of <paramref name="tokenAt"/> (position -> id), fed as logical forward calls
    /// of <paramref name="chunk"/> tokens through the sequence's cache (CLEX's protocol feeds 4096-token calls:
    /// length-dependent methods see each call's total length). <paramref name="prefillChunk"/> is the internal pass
    /// size: memory only, never a number. Under <see cref="AttentionMode.Truncate"/> the model only ever sees the last
    /// L tokens (positions restart at 0 whenever a call overflows the window), so calls are at most L - 1 tokens.
    /// </summary>
    public static PerplexityResult Evaluate(ICausalLM model, Func<long, int> tokenAt, long count, int chunk, int curvePoints = 200,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default, int prefillChunk = SequenceState.DefaultPrefillChunk)
    {
        if (count < 2) throw new LongLMException($"perplexity needs at least 2 tokens, got {count}");
        if (chunk <= 0) throw new LongLMException($"chunk must be positive, got {chunk}");
        var policy = model.Policy;
        if (policy.Mode == AttentionMode.Truncate) chunk = Math.Min(chunk, policy.Window - 1);
        if (chunk <= 0) throw new LongLMException("truncate needs a window of at least 2 tokens");

        int vocab = model.Config.VocabSize;
        var sums = new Dictionary<long, (double Sum, long Count)>();
        long curveBlock = Math.Max(1, (count + curvePoints - 1) / curvePoints);
        var curveSums = new double[(count + curveBlock - 1) / curveBlock];
        var curveCounts = new long[curveSums.Length];
        var previousLast = new float[vocab];
        bool havePrevious = false;
        var stopwatch = Stopwatch.StartNew();
        long processed = 0;

        void Score(double nll, long position)
        {
            long bucket = BucketStart(position);
            sums[bucket] = sums.TryGetValue(bucket, out var s) ? (s.Sum + nll, s.Count + 1) : (nll, 1);
            curveSums[position / curveBlock] += nll;
            curveCounts[position / curveBlock]++;
        }

        using var sequence = model.CreateSequence();
        sequence.PrefillChunk = prefillChunk;
        var ids = new int[chunk];
        var logits = new float[(long)chunk * vocab];
        var nlls = new double[chunk];
        var scorer = new ChunkScorer();
        for (long start = 0; start < count; start += chunk)
        {
            cancellationToken.ThrowIfCancellationRequested();
            int n = (int)Math.Min(chunk, count - start);
            for (int r = 0; r < n; r++) ids[r] = tokenAt(start + r);
            model.Forward(ids.AsSpan(0, n), sequence, logits, LogitsRows.All, cancellationToken);
            // The previous call's last row predicts this call's first token; row r predicts start + r + 1.
            if (havePrevious) Score(NegativeLogLikelihood(previousLast, ids[0]), start);
            scorer.Score(logits, ids, n, vocab, nlls);
            for (int r = 0; r + 1 < n; r++) Score(nlls[r], start + r + 1);
            logits.AsSpan((n - 1) * vocab, vocab).CopyTo(previousLast);
            havePrevious = true;
            processed += n;
            progress?.Report(start + n);
        }
        stopwatch.Stop();

        var buckets = sums.OrderBy(kv => kv.Key)
            .Select(kv => new PositionBucket(kv.Key, kv.Key < 512 ? 512 : kv.Key * 2, kv.Value.Sum / kv.Value.Count, kv.Value.Count))
            .ToList();
        double totalSum = sums.Values.Sum(v => v.Sum);
        long totalCount = sums.Values.Sum(v => v.Count);
        var curve = new List<(double, double)>();
        // A last block holding a handful of tokens would plot as noise; it joins the curve only when at least half full.
        for (int b = 0; b < curveSums.Length; b++)
            if (curveCounts[b] > 0 && (curveCounts[b] * 2 >= curveBlock || curve.Count == 0))
                curve.Add((b * curveBlock + curveBlock / 2.0, curveSums[b] / curveCounts[b]));
        return new PerplexityResult(buckets, new PositionBucket(1, count, totalSum / totalCount, totalCount), curve,
            processed / stopwatch.Elapsed.TotalSeconds);
    }

    /// <summary>
    /// A chunk's scoring, split over the cores: nlls[r] = NLL of ids[r + 1] under logits row r, for r &lt; n - 1 (on the
    /// evaluator's one thread it was about 5% of a long-stream run while the backend's other threads waited). Each value
    /// is computed alone and summed afterwards in position order, so results do not depend on the split.
    /// </summary>
    /// <remarks>
    /// A <see cref="RangeJob"/> run by <see cref="CpuParallel"/>, the mechanism the cpu backend's ops use: one instance
    /// per evaluation, so scoring allocates nothing per chunk (Parallel.For allocated about 6.7 KB a call, which grew the
    /// 200M-token stream's working set from 67 to 118 MiB), and the caller spin-waits for claimed parts only, where a
    /// blocking wait on an event made the long stream about 5% slower.
    /// </remarks>
    private sealed class ChunkScorer : RangeJob
    {
        private const int RowsPerPart = 64; // 64 rows of a 512-token vocabulary: the least worth waking a thread for
        private readonly int _workers = Math.Clamp(Environment.ProcessorCount, 1, 64);
        private float[] _logits = [];
        private int[] _ids = [];
        private double[] _nlls = [];
        private int _vocab;

        /// <summary>Scores the n - 1 rows of a chunk into nlls; a bad id is rethrown as itself (its own stack).</summary>
        public void Score(float[] logits, int[] ids, int n, int vocab, double[] nlls)
        {
            (_logits, _ids, _vocab, _nlls) = (logits, ids, vocab, nlls);
            CpuParallel.Run(this, n - 1, RowsPerPart, _workers);
        }

        public override void Run(int start, int end)
        {
            for (int r = start; r < end; r++) _nlls[r] = NegativeLogLikelihood(_logits.AsSpan(r * _vocab, _vocab), _ids[r + 1]);
        }

        public override void Clear() => (_logits, _ids, _nlls) = ([], [], []);
    }

    /// <summary>-log softmax(logits)[target], in double precision.</summary>
    /// <remarks>
    /// Vectorised (the logits widened to double into a per-thread buffer, then TensorPrimitives' double exp and sum):
    /// a scalar Math.Exp per vocabulary entry was 7% of a long-stream run, on the evaluator's one thread.
    /// </remarks>
    public static double NegativeLogLikelihood(ReadOnlySpan<float> logits, int target)
    {
        if ((uint)target >= (uint)logits.Length) throw new LongLMException($"token id {target} is outside the vocabulary [0, {logits.Length})");
        double max = TensorPrimitives.Max(logits);
        var shifted = WidenedScratch(logits);
        TensorPrimitives.Subtract(shifted, max, shifted);
        TensorPrimitives.Exp(shifted, shifted);
        return max + Math.Log(TensorPrimitives.Sum<double>(shifted)) - logits[target];
    }

    [ThreadStatic] private static double[]? t_widened;

    /// <summary>The logits as doubles, in a per-thread buffer that only grows (no allocation per scored token).</summary>
    private static Span<double> WidenedScratch(ReadOnlySpan<float> logits)
    {
        if (t_widened is not { } buffer || buffer.Length < logits.Length) t_widened = buffer = new double[logits.Length];
        var widened = buffer.AsSpan(0, logits.Length);
        int i = 0;
        if (Vector512.IsHardwareAccelerated)
            for (; i + Vector512<float>.Count <= logits.Length; i += Vector512<float>.Count)
            {
                var (lower, upper) = Vector512.Widen(Vector512.Create(logits.Slice(i, Vector512<float>.Count)));
                lower.CopyTo(widened.Slice(i));
                upper.CopyTo(widened.Slice(i + Vector512<double>.Count));
            }
        for (; i < logits.Length; i++) widened[i] = logits[i];
        return widened;
    }
}
