namespace LongLM.Runtime.Chat.Jinja;

// The syntax tree. Nodes are immutable, so one parsed template renders on many threads at once.

internal abstract record Node(int Line, int Column);

// ---- statements ----
internal sealed record TextNode(string Text, int Line, int Column) : Node(Line, Column);
internal sealed record OutputNode(Expr Value, int Line, int Column) : Node(Line, Column);
internal sealed record IfNode(IReadOnlyList<(Expr Test, IReadOnlyList<Node> Body)> Branches, IReadOnlyList<Node>? Else, int Line, int Column) : Node(Line, Column);
internal sealed record ForNode(Target Target, Expr Iter, Expr? Filter, IReadOnlyList<Node> Body, IReadOnlyList<Node>? Else, int Line, int Column) : Node(Line, Column);
internal sealed record SetNode(Target Target, Expr Value, int Line, int Column) : Node(Line, Column);
internal sealed record SetBlockNode(Target Target, IReadOnlyList<FilterCall> Filters, IReadOnlyList<Node> Body, int Line, int Column) : Node(Line, Column);
internal sealed record MacroNode(string Name, IReadOnlyList<(string Name, Expr? Default)> Parameters, IReadOnlyList<Node> Body, int Line, int Column) : Node(Line, Column);
internal sealed record CallBlockNode(CallExpr Call, IReadOnlyList<(string Name, Expr? Default)> CallerParameters, IReadOnlyList<Node> Body, int Line, int Column) : Node(Line, Column);
internal sealed record FilterBlockNode(IReadOnlyList<FilterCall> Filters, IReadOnlyList<Node> Body, int Line, int Column) : Node(Line, Column);
internal sealed record BreakNode(int Line, int Column) : Node(Line, Column);
internal sealed record ContinueNode(int Line, int Column) : Node(Line, Column);
/// <summary>transformers' {% generation %}: renders its body (the assistant-mask tracking is not needed to render).</summary>
internal sealed record GenerationNode(IReadOnlyList<Node> Body, int Line, int Column) : Node(Line, Column);

/// <summary>An assignment target: a name, a tuple of names, or namespace attribute (`ns.attr`).</summary>
internal sealed record Target(string? Name, IReadOnlyList<Target>? Tuple, string? NamespaceAttribute, int Line, int Column);

// ---- expressions ----
internal abstract record Expr(int Line, int Column) : Node(Line, Column);
internal sealed record ConstExpr(object? Value, int Line, int Column) : Expr(Line, Column);
internal sealed record NameExpr(string Name, int Line, int Column) : Expr(Line, Column);
internal sealed record GetAttrExpr(Expr Target, string Attribute, int Line, int Column) : Expr(Line, Column);
internal sealed record GetItemExpr(Expr Target, Expr Key, int Line, int Column) : Expr(Line, Column);
internal sealed record SliceExpr(Expr Target, Expr? Start, Expr? Stop, Expr? Step, int Line, int Column) : Expr(Line, Column);
internal sealed record CallExpr(Expr Callee, IReadOnlyList<Expr> Args, IReadOnlyList<(string Name, Expr Value)> Kwargs, int Line, int Column) : Expr(Line, Column);
internal sealed record FilterCall(string Name, IReadOnlyList<Expr> Args, IReadOnlyList<(string Name, Expr Value)> Kwargs, int Line, int Column);
internal sealed record FilterExpr(Expr Value, FilterCall Filter, int Line, int Column) : Expr(Line, Column);
internal sealed record TestExpr(Expr Value, string Test, IReadOnlyList<Expr> Args, bool Negated, int Line, int Column) : Expr(Line, Column);
internal sealed record BinaryExpr(string Op, Expr Left, Expr Right, int Line, int Column) : Expr(Line, Column);
internal sealed record UnaryExpr(string Op, Expr Operand, int Line, int Column) : Expr(Line, Column);
internal sealed record CompareExpr(Expr First, IReadOnlyList<(string Op, Expr Right)> Rest, int Line, int Column) : Expr(Line, Column);
internal sealed record CondExpr(Expr Test, Expr Then, Expr? Else, int Line, int Column) : Expr(Line, Column);
internal sealed record ListExpr(IReadOnlyList<Expr> Items, bool IsTuple, int Line, int Column) : Expr(Line, Column);
internal sealed record DictExpr(IReadOnlyList<(Expr Key, Expr Value)> Items, int Line, int Column) : Expr(Line, Column);
internal sealed record ConcatExpr(IReadOnlyList<Expr> Parts, int Line, int Column) : Expr(Line, Column);
