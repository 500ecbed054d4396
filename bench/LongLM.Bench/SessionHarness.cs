using LongLM.Models;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Bench;

/// <summary>
/// What one more session on a loaded model costs: its sequence's backend bytes (KV cache + workspace + attention
/// buffers) after a prefill of each context length, under vanilla attention and under Lambda, cross-checked with
/// the managed heap's growth when four such sessions are alive at once; and the bytes the calling thread allocates
/// per decoded token in steady state (greedy, Lambda, after a warm-up that lets every buffer reach its size).
/// </summary>
internal static class SessionHarness
{
    public static int Run(string[] args)
    {
        string dir = Stats.Arg(args, "--model", "");
        var contexts = Stats.Arg(args, "--contexts", "512,4096").Split(',').Select(int.Parse).ToArray();
        string name = Path.GetFileName(Path.TrimEndingDirectorySeparator(dir));
        foreach (var (label, attention) in new (string, LambdaAttentionOptions?)[] { ("vanilla", null), ("lambda", new LambdaAttentionOptions()) })
        {
            using var lm = LanguageModel.Load(dir, "cpu", attention);
            foreach (int context in contexts)
            {
                var ids = Enumerable.Range(0, context).Select(i => 3 + i % Math.Max(1, lm.Config.VocabSize - 3)).ToArray();
                var sessions = Open(lm, ids);
                long sequenceBytes = sessions[0].Sequence.AllocatedBytes;
                long kvBytes = 4 * sessions[0].Cache.AllocatedFloats;
                // Cross-check on the CPU backend, whose buffers are managed arrays: the heap with the four sessions
                // alive minus the heap once they are disposed and collected (helpers own every stack reference, so
                // no Tier-0 stack slot keeps a session reachable).
                long heapWith = GC.GetTotalMemory(forceFullCollection: true);
                Close(sessions);
                long heapWithout = GC.GetTotalMemory(forceFullCollection: true);
                Console.WriteLine($"{name} {label} context {context}: per session {sequenceBytes / 1048576.0:F2} MiB on the backend " +
                    $"(KV cache {kvBytes / 1048576.0:F2} MiB); the managed heap holds {(heapWith - heapWithout) / 4 / 1048576.0:F2} MiB per session (4 sessions)");
            }
        }
        using (var lm = LanguageModel.Load(dir, "cpu", new LambdaAttentionOptions { LocalWindow = 64, GlobalTokens = 4 }))
        using (var session = lm.CreateSession())
        {
            var options = new GenerationOptions { MaxTokens = 1000, Sampling = SamplingOptions.Greedy, StopIds = new HashSet<int>() };
            using var tokens = session.Generate([1], options).GetEnumerator();
            for (int i = 0; i < 300; i++) tokens.MoveNext();
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 500; i++) tokens.MoveNext();
            Console.WriteLine($"{name}: {(GC.GetAllocatedBytesForCurrentThread() - before) / 500.0:F1} bytes allocated per decoded token (calling thread, greedy, Lambda L=64, 500 tokens after 300 of warm-up)");
        }
        return 0;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static List<InferenceSession> Open(LanguageModel lm, int[] ids)
    {
        var sessions = Enumerable.Range(0, 4).Select(_ => lm.CreateSession()).ToList();
        foreach (var session in sessions) session.Prefill(ids);
        return sessions;
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static void Close(List<InferenceSession> sessions)
    {
        foreach (var session in sessions) session.Dispose();
        sessions.Clear();
    }
}
