namespace LongLM.Bench.Ops;

/// <summary>The op suites, for <c>LongLM.Bench ops</c>.</summary>
public static class OpSuites
{
    /// <summary>Every suite: one per group of backend ops.</summary>
    public static readonly Type[] All =
        [typeof(MatMulOps), typeof(AttentionOps), typeof(TopKOps), typeof(RowOps), typeof(ClexOps), typeof(MoeOps)];
}
