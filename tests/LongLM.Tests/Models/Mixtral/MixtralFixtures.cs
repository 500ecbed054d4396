using System.Text.Json;
using LongLM.Kernels;
using LongLM.Models.Fixtures;

namespace LongLM.Tests.Models.Mixtral;

/// <summary>
/// The fixtures behind the Mixtral golden files (the make_golden.sh Mixtral block): mixtral tiny / tiny-window, F32,
/// seed 15; CLEX-Mixtral = make-fixture --family mixtral-clex on mixtral tiny, seed 3 (param_factor 2).
/// </summary>
internal static class MixtralFixtures
{
    public const ulong Seed = 15, ClexSeed = 3;

    public static string Write(string root, string shape = "tiny")
    {
        string dir = Path.Combine(root, "mixtral-" + shape);
        if (!Directory.Exists(dir)) FixtureWriter.Write("mixtral", FixtureShape.Find("mixtral", shape), DType.F32, Seed, dir);
        return dir;
    }

    public static string WriteClex(string root)
    {
        string dir = Path.Combine(root, "mixtral-clex");
        if (!Directory.Exists(dir)) FixtureWriter.WriteClex(Write(root), ClexSeed, dir, paramFactor: 2);
        return dir;
    }

    /// <summary>One CLEX one-call entry of clex_mixtral-tiny_seed15_clex3_onecall.json.</summary>
    public sealed record ClexCall(int S, int T, int[] Rows, float[][] Logits);

    public static (int[] Ids, ClexCall[] Calls) ReadClex()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "clex_mixtral-tiny_seed15_clex3_onecall.json")));
        var r = doc.RootElement;
        int[] ids = r.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var calls = r.GetProperty("calls").EnumerateArray().Select(c => new ClexCall(
            c.GetProperty("S").GetInt32(), c.GetProperty("t").GetInt32(),
            c.GetProperty("rows").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
            c.GetProperty("logits").EnumerateArray().Select(row => row.EnumerateArray().Select(e => e.GetSingle()).ToArray()).ToArray())).ToArray();
        return (ids, calls);
    }
}
