using System.Diagnostics;
using LongLM.Kernels.Cpu;
using LongLM.Kernels.Profiling;
using LongLM.Models;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Cli.Commands;

/// <summary>What one model (one attention mode, one thread count) is benchmarked on.</summary>
/// <param name="Prompts">-p: prefill tests.</param>
/// <param name="Gens">-n: decode tests.</param>
/// <param name="Depths">-d: tokens prefilled, untimed, before each test.</param>
/// <param name="Repetitions">-r: timed repetitions per row.</param>
/// <param name="Warmup">One untimed repetition of each test before the timed ones (JIT, thread wake-up, page faults).</param>
/// <param name="PrefillChunk">Tokens per internal pass (memory only; it changes speed, never a number).</param>
/// <param name="Profile">--profile: time every backend call of the timed repetitions (the model must run on a <see cref="ProfilingBackend"/>).</param>
public sealed record BenchPlan(IReadOnlyList<int> Prompts, IReadOnlyList<int> Gens, IReadOnlyList<int> Depths, int Repetitions, bool Warmup, int PrefillChunk,
    bool Profile = false);

/// <summary>
/// Runs the rows of one loaded model through the library's forward (<see cref="ICausalLM.Forward"/> on a sequence), as
/// llama-bench does: the depth is a real prefill, untimed; pp&lt;P&gt; times one forward call of P more tokens; tg&lt;N&gt;
/// times N greedy decode steps (argmax, nothing else). Between repetitions the cache is rewound to the depth (or, when
/// the policy has dropped what that needs, refilled), so every repetition computes the same thing.
/// </summary>
public static class BenchRunner
{
    /// <summary>Token i of the benchmark's id stream: BOS first when the tokenizer adds one, then splitmix64 of i mod vocab (fixed, reproducible).</summary>
    public static int StreamId(long i, int vocab, int? bos)
    {
        if (i == 0 && bos is int b) return b;
        ulong z = (ulong)i + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (int)(z % (ulong)vocab);
    }

    /// <summary>Bytes of the KV slots <paramref name="cache"/> holds: local keys and values (and raw key copies), far keys and values.</summary>
    public static long HeldKvBytes(KvCache cache)
    {
        long localStores = 2 + (cache.RawLocalKeys(0) is null ? 0 : 1);
        long far = cache.FarKeys(0) is null ? 0 : 2L * cache.FarCount;
        return 4L * cache.Layers * cache.KvDim * (localStores * cache.LocalCount + far);
    }

    /// <summary>Checks, before any work, that the longest row fits the cache (vanilla attention stores every token).</summary>
    public static void CheckFits(LanguageModel lm, BenchPlan plan)
    {
        long longest = (long)plan.Depths.Max() + Math.Max(plan.Prompts.DefaultIfEmpty(0).Max(), plan.Gens.DefaultIfEmpty(0).Max());
        using var sequence = lm.Model.CreateSequence();
        sequence.PrefillChunk = plan.PrefillChunk;
        try
        {
            sequence.Cache.CheckCanAppend(longest, plan.PrefillChunk);
        }
        catch (Runtime.LongLMException e)
        {
            throw new Runtime.LongLMException($"depth {plan.Depths.Max()} plus a test of {longest - plan.Depths.Max()} tokens does not fit under {lm.Model.Policy} attention: {e.Message}");
        }
    }

    /// <summary>Every row of <paramref name="plan"/> on <paramref name="loaded"/>: for each depth, the pp tests then the tg tests.</summary>
    public static IEnumerable<BenchRow> Run(LoadedModel loaded, BenchPlan plan, string backendName)
    {
        var lm = loaded.Model;
        var model = lm.Model;
        int vocab = lm.Config.VocabSize;
        int? bos = lm.Tokenizer.AddBos ? lm.Tokenizer.BosId : null;
        long size = BenchWeights.LoadedBytes(lm), perToken = BenchWeights.BytesPerToken(lm);
        var profiler = plan.Profile ? model.Backend as ProfilingBackend
            ?? throw new InvalidOperationException("--profile needs the model on a ProfilingBackend") : null;
        int? threads = (profiler?.Inner ?? model.Backend) is CpuBackend cpu ? cpu.Threads : null;
        double emptyRegion = profiler?.MeasureEmptyParallelRegionSeconds() ?? 0;
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(lm.Directory));
        var logits = new float[vocab];
        var tests = plan.Prompts.Select(p => ("pp", p)).Concat(plan.Gens.Select(n => ("tg", n))).ToArray();
        var one = new int[1];
        var sequence = model.CreateSequence();
        sequence.PrefillChunk = plan.PrefillChunk;
        try
        {
            int held = 0; // the stream's first `held` ids are in the sequence after a rewind
            foreach (int depth in plan.Depths)
            {
                // The depth is a real prefill of the stream's first d ids. Depths in rising order extend the previous
                // depth's sequence with the ids between (one more logical call) rather than prefilling from 0 again.
                if (!(depth >= held && Rewound(sequence, held)))
                {
                    sequence.Dispose();
                    sequence = model.CreateSequence();
                    sequence.PrefillChunk = plan.PrefillChunk;
                    held = 0;
                }
                int first = depth > held ? ArgMaxAfter(model, StreamIds(held, depth - held, vocab, bos), sequence, logits)
                    : depth > 0 ? -1 : bos ?? 0;
                held = depth;
                int[] depthIds = StreamIds(0, depth, vocab, bos);
                if (first < 0)
                {
                    // A repeated depth: the last call's logits are gone, so the depth is prefilled again.
                    sequence.Dispose();
                    sequence = model.CreateSequence();
                    sequence.PrefillChunk = plan.PrefillChunk;
                    first = ArgMaxAfter(model, depthIds, sequence, logits);
                }
                // The first decoded id is the greedy one after the depth (BOS, or id 0, on an empty cache), the same in
                // every repetition.
                foreach (var (test, tokens) in tests)
                {
                    int[] promptIds = test == "pp" ? StreamIds(depth, tokens, vocab, bos) : [];
                    // The peak is reset with the depth already in the cache: a row's peak is the memory of its test at that depth.
                    string scope = ProcessMemory.ResetPeak();
                    var samples = new double[plan.Repetitions];
                    var totals = new List<OpTotals>();
                    double wall = 0, sampling = 0;
                    for (int rep = plan.Warmup ? -1 : 0; rep < plan.Repetitions; rep++)
                    {
                        if (!Rewound(sequence, depth))
                        {
                            // The policy dropped keys the depth needs (a bounded window moved on): start again from empty.
                            sequence.Dispose();
                            sequence = model.CreateSequence();
                            sequence.PrefillChunk = plan.PrefillChunk;
                            if (depth > 0) ArgMaxAfter(model, depthIds, sequence, logits);
                        }
                        bool profiled = profiler is not null && rep >= 0;
                        if (profiled) profiler!.Profile.Start();
                        long start = Stopwatch.GetTimestamp();
                        if (test == "pp")
                        {
                            model.Forward(promptIds, sequence, logits, LogitsRows.Last);
                        }
                        else
                        {
                            one[0] = first;
                            for (int i = 0; i < tokens; i++)
                            {
                                model.Forward(one, sequence, logits, LogitsRows.Last);
                                long sample = profiled ? Stopwatch.GetTimestamp() : 0;
                                one[0] = Sampler.ArgMax(logits);
                                if (profiled) sampling += Stopwatch.GetElapsedTime(sample).TotalSeconds;
                            }
                        }
                        double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
                        if (profiled)
                        {
                            totals.Add(profiler!.Profile.Stop());
                            wall += seconds;
                        }
                        if (rep >= 0) samples[rep] = tokens / seconds;
                    }
                    yield return new BenchRow(name, lm.Config.ModelType, size, lm.ParameterCount, backendName, threads, model.Policy.ToString(),
                        test, tokens, depth, samples, perToken, ProcessMemory.Peak(), scope,
                        HeldKvBytes(sequence.Cache), 4 * sequence.Cache.AllocatedFloats,
                        profiler is null ? null : BenchProfile.From(totals, (long)tokens * plan.Repetitions, wall, sampling, emptyRegion));
                }
            }
        }
        finally
        {
            sequence.Dispose();
        }
    }

    /// <summary>Ids [start, start + count) of the stream.</summary>
    private static int[] StreamIds(int start, int count, int vocab, int? bos) =>
        Enumerable.Range(start, count).Select(i => StreamId(i, vocab, bos)).ToArray();

    /// <summary>Whether the sequence holds exactly the stream's first <paramref name="count"/> ids, rewinding to them if it can.</summary>
    private static bool Rewound(Runtime.Inference.SequenceState sequence, int count) =>
        sequence.TokenCount == count || (sequence.TokenCount > count && sequence.TruncateContext is null && sequence.Cache.TryRewind(count));

    private static int ArgMaxAfter(ICausalLM model, int[] ids, SequenceState sequence, float[] logits)
    {
        model.Forward(ids, sequence, logits, LogitsRows.Last);
        return Sampler.ArgMax(logits);
    }
}
