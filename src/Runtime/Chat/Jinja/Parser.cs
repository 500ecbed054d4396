namespace LongLM.Runtime.Chat.Jinja;

/// <summary>Recursive-descent parser for the Jinja subset of chat templates, following jinja2/parser.py's grammar.</summary>
internal sealed class Parser
{
    private static readonly HashSet<string> CompareOps = ["==", "!=", "<", ">", "<=", ">="];

    private readonly List<Token> _tokens;
    private readonly int _maxDepth;
    private int _pos;
    private int _depth;
    private int _loopDepth;

    private Parser(List<Token> tokens, int maxDepth)
    {
        _tokens = tokens;
        _maxDepth = maxDepth;
    }

    public static IReadOnlyList<Node> Parse(string source, SandboxLimits limits)
    {
        var parser = new Parser(Lexer.Tokenize(source), limits.MaxParseDepth);
        var body = parser.ParseBody([], out _);
        return body;
    }

    private Token Current => _pos < _tokens.Count ? _tokens[_pos] : EofToken();

    private Token Peek(int ahead = 1) => _pos + ahead < _tokens.Count ? _tokens[_pos + ahead] : EofToken();

    private Token EofToken()
    {
        var last = _tokens.Count > 0 ? _tokens[^1] : new Token(TokenKind.Eof, "", 1, 1);
        return new Token(TokenKind.Eof, "", last.Line, last.Column);
    }

    private Token Next() => _tokens[_pos++];

    private static JinjaError Error(string message, Token at) => new(message, at.Line, at.Column);

    private static string Describe(Token t) => t.Kind switch
    {
        TokenKind.Eof => "end of template",
        TokenKind.BlockEnd => "end of statement block",
        TokenKind.VariableEnd => "end of print statement",
        TokenKind.String => "string",
        TokenKind.Integer => "integer",
        TokenKind.Float => "float",
        _ => $"'{t.Text}'",
    };

    private Token Expect(TokenKind kind, string? text = null)
    {
        var t = Current;
        if (t.Kind != kind || (text is not null && t.Text != text))
            throw Error($"expected {(text is not null ? $"'{text}'" : kind.ToString())}, got {Describe(t)}", t);
        _pos++;
        return t;
    }

    private void Enter(Token at)
    {
        if (++_depth > _maxDepth) throw new SandboxLimitError("template nested too deeply") { Line = at.Line, Column = at.Column };
    }

    private void Leave() => _depth--;

    /// <summary>Statements until a block tag whose name is in <paramref name="endTags"/> (left unconsumed after the name).</summary>
    private List<Node> ParseBody(string[] endTags, out string? endTag)
    {
        var body = new List<Node>();
        while (true)
        {
            var t = Current;
            switch (t.Kind)
            {
                case TokenKind.Eof:
                    if (endTags.Length > 0)
                        throw Error($"unexpected end of template; Jinja was looking for the following tags: {string.Join(" or ", endTags.Select(x => $"'{x}'"))}", t);
                    endTag = null;
                    return body;
                case TokenKind.Data:
                    _pos++;
                    body.Add(new TextNode(t.Text, t.Line, t.Column));
                    break;
                case TokenKind.VariableBegin:
                {
                    _pos++;
                    var expr = ParseTuple(withCondExpr: true);
                    Expect(TokenKind.VariableEnd);
                    body.Add(new OutputNode(expr, t.Line, t.Column));
                    break;
                }
                case TokenKind.BlockBegin:
                {
                    var name = Peek();
                    if (name.Kind == TokenKind.Name && endTags.Contains(name.Text))
                    {
                        _pos += 2;
                        endTag = name.Text;
                        return body;
                    }
                    _pos++;
                    body.Add(ParseStatement(t));
                    break;
                }
                default:
                    throw Error($"unexpected {Describe(t)}", t);
            }
        }
    }

    private Node ParseStatement(Token begin)
    {
        var tag = Current;
        if (tag.Kind != TokenKind.Name) throw Error("tag name expected", tag);
        Enter(tag);
        try
        {
            _pos++;
            switch (tag.Text)
            {
                case "if": return ParseIf(tag);
                case "for": return ParseFor(tag);
                case "set": return ParseSet(tag);
                case "macro": return ParseMacro(tag);
                case "call": return ParseCallBlock(tag);
                case "filter": return ParseFilterBlock(tag);
                case "generation":
                {
                    Expect(TokenKind.BlockEnd);
                    var body = ParseBody(["endgeneration"], out _);
                    Expect(TokenKind.BlockEnd);
                    return new GenerationNode(body, tag.Line, tag.Column);
                }
                case "break":
                case "continue":
                    if (_loopDepth == 0) throw Error($"'{tag.Text}' outside of a loop", tag);
                    Expect(TokenKind.BlockEnd);
                    return tag.Text == "break" ? new BreakNode(tag.Line, tag.Column) : new ContinueNode(tag.Line, tag.Column);
                case "elif" or "else" or "endif" or "endfor" or "endset" or "endmacro" or "endcall" or "endfilter" or "endgeneration":
                    throw Error($"unexpected '{tag.Text}'", tag);
                default:
                    throw Error($"encountered unknown or unsupported tag '{tag.Text}'", tag);
            }
        }
        finally
        {
            Leave();
        }
    }

    private Node ParseIf(Token tag)
    {
        var branches = new List<(Expr, IReadOnlyList<Node>)>();
        List<Node>? elseBody = null;
        var test = ParseTuple(withCondExpr: false);
        Expect(TokenKind.BlockEnd);
        while (true)
        {
            var body = ParseBody(["elif", "else", "endif"], out string? end);
            branches.Add((test, body));
            if (end == "elif")
            {
                test = ParseTuple(withCondExpr: false);
                Expect(TokenKind.BlockEnd);
                continue;
            }
            if (end == "else")
            {
                Expect(TokenKind.BlockEnd);
                elseBody = ParseBody(["endif"], out _);
            }
            Expect(TokenKind.BlockEnd);
            return new IfNode(branches, elseBody, tag.Line, tag.Column);
        }
    }

    private Node ParseFor(Token tag)
    {
        var target = ParseAssignTarget(allowNamespace: false, allowTuple: true);
        Expect(TokenKind.Name, "in");
        var iter = ParseTuple(withCondExpr: false, stopAtRecursive: true);
        Expr? filter = null;
        if (Current.IsName("if"))
        {
            _pos++;
            filter = ParseExpression(withCondExpr: true);
        }
        if (Current.IsName("recursive")) throw Error("recursive for loops are not supported", Current);
        Expect(TokenKind.BlockEnd);
        _loopDepth++;
        var body = ParseBody(["else", "endfor"], out string? end);
        _loopDepth--;
        List<Node>? elseBody = null;
        if (end == "else")
        {
            Expect(TokenKind.BlockEnd);
            elseBody = ParseBody(["endfor"], out _);
        }
        Expect(TokenKind.BlockEnd);
        return new ForNode(target, iter, filter, body, elseBody, tag.Line, tag.Column);
    }

    private Node ParseSet(Token tag)
    {
        var target = ParseAssignTarget(allowNamespace: true, allowTuple: true);
        if (Current.IsOp("="))
        {
            _pos++;
            var value = ParseTuple(withCondExpr: true);
            Expect(TokenKind.BlockEnd);
            return new SetNode(target, value, tag.Line, tag.Column);
        }
        if (target.Name is null) throw Error("a block set takes one name", Current);
        var filters = ParseFilterChain();
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endset"], out _);
        Expect(TokenKind.BlockEnd);
        return new SetBlockNode(target, filters, body, tag.Line, tag.Column);
    }

    private List<FilterCall> ParseFilterChain()
    {
        var filters = new List<FilterCall>();
        while (Current.IsOp("|"))
        {
            _pos++;
            filters.Add(ParseFilterCall());
        }
        return filters;
    }

    private Node ParseMacro(Token tag)
    {
        string name = Expect(TokenKind.Name).Text;
        var parameters = ParseSignature();
        Expect(TokenKind.BlockEnd);
        int loops = _loopDepth;
        _loopDepth = 0;
        var body = ParseBody(["endmacro"], out _);
        _loopDepth = loops;
        if (Current.Kind == TokenKind.Name && Current.Text == name) _pos++;
        Expect(TokenKind.BlockEnd);
        return new MacroNode(name, parameters, body, tag.Line, tag.Column);
    }

    private List<(string, Expr?)> ParseSignature()
    {
        var parameters = new List<(string, Expr?)>();
        Expect(TokenKind.Operator, "(");
        while (!Current.IsOp(")"))
        {
            if (parameters.Count > 0) Expect(TokenKind.Operator, ",");
            if (Current.IsOp(")")) break;
            var nameToken = Expect(TokenKind.Name);
            Expr? fallback = null;
            if (Current.IsOp("="))
            {
                _pos++;
                fallback = ParseExpression(withCondExpr: true);
            }
            else if (parameters.Any(p => p.Item2 is not null))
                throw Error("non-default argument follows default argument", nameToken);
            parameters.Add((nameToken.Text, fallback));
        }
        _pos++;
        return parameters;
    }

    private Node ParseCallBlock(Token tag)
    {
        var callerParameters = Current.IsOp("(") ? ParseSignature() : [];
        var call = ParseExpression(withCondExpr: true);
        if (call is not CallExpr callExpr) throw Error("expected a call after {% call %}", tag);
        Expect(TokenKind.BlockEnd);
        int loops = _loopDepth;
        _loopDepth = 0;
        var body = ParseBody(["endcall"], out _);
        _loopDepth = loops;
        Expect(TokenKind.BlockEnd);
        return new CallBlockNode(callExpr, callerParameters, body, tag.Line, tag.Column);
    }

    private Node ParseFilterBlock(Token tag)
    {
        var filters = new List<FilterCall> { ParseFilterCall() };
        filters.AddRange(ParseFilterChain());
        Expect(TokenKind.BlockEnd);
        var body = ParseBody(["endfilter"], out _);
        Expect(TokenKind.BlockEnd);
        return new FilterBlockNode(filters, body, tag.Line, tag.Column);
    }

    private Target ParseAssignTarget(bool allowNamespace, bool allowTuple)
    {
        var first = Current;
        var targets = new List<Target>();
        bool parenthesised = false;
        if (allowTuple && Current.IsOp("("))
        {
            parenthesised = true;
            _pos++;
        }
        while (true)
        {
            var nameToken = Expect(TokenKind.Name);
            if (allowNamespace && Current.IsOp(".") && Peek().Kind == TokenKind.Name)
            {
                _pos++;
                string attribute = Next().Text;
                return new Target(nameToken.Text, null, attribute, nameToken.Line, nameToken.Column);
            }
            if (nameToken.Text is "true" or "false" or "none" or "True" or "False" or "None")
                throw Error($"cannot assign to '{nameToken.Text}'", nameToken);
            targets.Add(new Target(nameToken.Text, null, null, nameToken.Line, nameToken.Column));
            if (!allowTuple || !Current.IsOp(",")) break;
            _pos++;
            if (Current.Kind != TokenKind.Name) break;
        }
        if (parenthesised) Expect(TokenKind.Operator, ")");
        if (targets.Count == 1 && !parenthesised) return targets[0];
        return new Target(null, targets, null, first.Line, first.Column);
    }

    // ---- expressions ----

    private Expr ParseTuple(bool withCondExpr, bool stopAtRecursive = false, bool explicitParentheses = false)
    {
        var first = Current;
        var items = new List<Expr>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0) Expect(TokenKind.Operator, ",");
            if (IsTupleEnd(stopAtRecursive)) break;
            items.Add(ParseExpression(withCondExpr));
            if (Current.IsOp(",")) isTuple = true;
            else break;
        }
        if (!isTuple)
        {
            if (items.Count == 1) return items[0];
            if (!explicitParentheses) throw Error($"expected an expression, got {Describe(Current)}", Current);
        }
        return new ListExpr(items, true, first.Line, first.Column);
    }

    private bool IsTupleEnd(bool stopAtRecursive)
    {
        var t = Current;
        return t.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd or TokenKind.Eof || t.IsOp(")") || (t.Kind == TokenKind.Name && (t.Text == "if" || (stopAtRecursive && t.Text == "recursive")));
    }

    private Expr ParseExpression(bool withCondExpr)
    {
        Enter(Current);
        try
        {
            if (!withCondExpr) return ParseOr();
            var expr = ParseOr();
            while (Current.IsName("if"))
            {
                var at = Next();
                var test = ParseOr();
                Expr? otherwise = null;
                if (Current.IsName("else"))
                {
                    _pos++;
                    otherwise = ParseExpression(withCondExpr: true);
                }
                expr = new CondExpr(test, expr, otherwise, at.Line, at.Column);
            }
            return expr;
        }
        finally
        {
            Leave();
        }
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            var at = Next();
            left = new BinaryExpr("or", left, ParseAnd(), at.Line, at.Column);
        }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            var at = Next();
            left = new BinaryExpr("and", left, ParseNot(), at.Line, at.Column);
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (Current.IsName("not"))
        {
            var at = Next();
            Enter(at);
            try
            {
                return new UnaryExpr("not", ParseNot(), at.Line, at.Column);
            }
            finally
            {
                Leave();
            }
        }
        return ParseCompare();
    }

    private Expr ParseCompare()
    {
        var first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            var t = Current;
            if (t.Kind == TokenKind.Operator && CompareOps.Contains(t.Text))
            {
                _pos++;
                rest.Add((t.Text, ParseMath1()));
            }
            else if (t.IsName("in"))
            {
                _pos++;
                rest.Add(("in", ParseMath1()));
            }
            else if (t.IsName("not") && Peek().IsName("in"))
            {
                _pos += 2;
                rest.Add(("notin", ParseMath1()));
            }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(first, rest, first.Line, first.Column);
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.IsOp("+") || Current.IsOp("-"))
        {
            var at = Next();
            left = new BinaryExpr(at.Text, left, ParseConcat(), at.Line, at.Column);
        }
        return left;
    }

    private Expr ParseConcat()
    {
        var first = ParseMath2();
        if (!Current.IsOp("~")) return first;
        var parts = new List<Expr> { first };
        while (Current.IsOp("~"))
        {
            _pos++;
            parts.Add(ParseMath2());
        }
        return new ConcatExpr(parts, first.Line, first.Column);
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Current.IsOp("*") || Current.IsOp("/") || Current.IsOp("//") || Current.IsOp("%"))
        {
            var at = Next();
            left = new BinaryExpr(at.Text, left, ParsePow(), at.Line, at.Column);
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary(withFilter: true);
        while (Current.IsOp("**"))
        {
            var at = Next();
            left = new BinaryExpr("**", left, ParseUnary(withFilter: true), at.Line, at.Column);
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter)
    {
        var t = Current;
        Enter(t);
        try
        {
            Expr node;
            if (t.IsOp("-") || t.IsOp("+"))
            {
                _pos++;
                node = new UnaryExpr(t.Text, ParseUnary(withFilter: false), t.Line, t.Column);
            }
            else node = ParsePrimary();
            node = ParsePostfix(node);
            if (withFilter) node = ParseFilterExpr(node);
            return node;
        }
        finally
        {
            Leave();
        }
    }

    private Expr ParsePrimary()
    {
        var t = Current;
        switch (t.Kind)
        {
            case TokenKind.Name:
                _pos++;
                return t.Text switch
                {
                    "true" or "True" => new ConstExpr(true, t.Line, t.Column),
                    "false" or "False" => new ConstExpr(false, t.Line, t.Column),
                    "none" or "None" => new ConstExpr(null, t.Line, t.Column),
                    _ => new NameExpr(t.Text, t.Line, t.Column),
                };
            case TokenKind.String:
            {
                _pos++;
                string value = (string)t.Value!;
                while (Current.Kind == TokenKind.String) value += (string)Next().Value!;
                return new ConstExpr(value, t.Line, t.Column);
            }
            case TokenKind.Integer:
            case TokenKind.Float:
                _pos++;
                return new ConstExpr(t.Value, t.Line, t.Column);
            case TokenKind.Operator when t.Text == "(":
            {
                _pos++;
                var inner = ParseTuple(withCondExpr: true, explicitParentheses: true);
                Expect(TokenKind.Operator, ")");
                return inner;
            }
            case TokenKind.Operator when t.Text == "[":
            {
                _pos++;
                var items = new List<Expr>();
                while (!Current.IsOp("]"))
                {
                    if (items.Count > 0) Expect(TokenKind.Operator, ",");
                    if (Current.IsOp("]")) break;
                    items.Add(ParseExpression(withCondExpr: true));
                }
                _pos++;
                return new ListExpr(items, false, t.Line, t.Column);
            }
            case TokenKind.Operator when t.Text == "{":
            {
                _pos++;
                var items = new List<(Expr, Expr)>();
                while (!Current.IsOp("}"))
                {
                    if (items.Count > 0) Expect(TokenKind.Operator, ",");
                    if (Current.IsOp("}")) break;
                    var key = ParseExpression(withCondExpr: true);
                    Expect(TokenKind.Operator, ":");
                    items.Add((key, ParseExpression(withCondExpr: true)));
                }
                _pos++;
                return new DictExpr(items, t.Line, t.Column);
            }
            default:
                throw Error($"unexpected {Describe(t)}", t);
        }
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOp("."))
            {
                _pos++;
                var attr = Current;
                if (attr.Kind == TokenKind.Name)
                {
                    _pos++;
                    node = new GetAttrExpr(node, attr.Text, t.Line, t.Column);
                }
                else if (attr.Kind == TokenKind.Integer)
                {
                    _pos++;
                    node = new GetItemExpr(node, new ConstExpr(attr.Value, attr.Line, attr.Column), t.Line, t.Column);
                }
                else throw Error($"expected name or number after '.', got {Describe(attr)}", attr);
            }
            else if (t.IsOp("["))
            {
                _pos++;
                node = ParseSubscript(node, t);
            }
            else if (t.IsOp("("))
            {
                node = ParseCall(node);
            }
            else return node;
        }
    }

    private Expr ParseSubscript(Expr target, Token at)
    {
        Expr? start = null, stop = null, step = null;
        if (!Current.IsOp(":")) start = ParseExpression(withCondExpr: true);
        if (!Current.IsOp(":"))
        {
            if (Current.IsOp(","))
            {
                var items = new List<Expr> { start! };
                while (Current.IsOp(","))
                {
                    _pos++;
                    if (Current.IsOp("]")) break;
                    items.Add(ParseExpression(withCondExpr: true));
                }
                Expect(TokenKind.Operator, "]");
                return new GetItemExpr(target, new ListExpr(items, true, at.Line, at.Column), at.Line, at.Column);
            }
            Expect(TokenKind.Operator, "]");
            return new GetItemExpr(target, start!, at.Line, at.Column);
        }
        _pos++;
        if (!Current.IsOp("]") && !Current.IsOp(":")) stop = ParseExpression(withCondExpr: true);
        if (Current.IsOp(":"))
        {
            _pos++;
            if (!Current.IsOp("]")) step = ParseExpression(withCondExpr: true);
        }
        Expect(TokenKind.Operator, "]");
        return new SliceExpr(target, start, stop, step, at.Line, at.Column);
    }

    private (List<Expr> Args, List<(string, Expr)> Kwargs) ParseArgs()
    {
        var open = Expect(TokenKind.Operator, "(");
        var args = new List<Expr>();
        var kwargs = new List<(string, Expr)>();
        while (!Current.IsOp(")"))
        {
            if (args.Count + kwargs.Count > 0) Expect(TokenKind.Operator, ",");
            if (Current.IsOp(")")) break;
            if (Current.IsOp("*") || Current.IsOp("**")) throw Error("*args and **kwargs in calls are not supported", Current);
            if (Current.Kind == TokenKind.Name && Peek().IsOp("="))
            {
                string name = Next().Text;
                _pos++;
                kwargs.Add((name, ParseExpression(withCondExpr: true)));
            }
            else
            {
                if (kwargs.Count > 0) throw Error("positional argument follows keyword argument", Current);
                args.Add(ParseExpression(withCondExpr: true));
            }
            if (Current.Kind is TokenKind.Eof or TokenKind.BlockEnd or TokenKind.VariableEnd) throw Error($"expected ')' to close the call opened here", open);
        }
        _pos++;
        return (args, kwargs);
    }

    private CallExpr ParseCall(Expr callee)
    {
        var at = Current;
        var (args, kwargs) = ParseArgs();
        return new CallExpr(callee, args, kwargs, at.Line, at.Column);
    }

    private FilterCall ParseFilterCall()
    {
        var name = Expect(TokenKind.Name);
        string full = name.Text;
        while (Current.IsOp(".") && Peek().Kind == TokenKind.Name)
        {
            _pos++;
            full += "." + Next().Text;
        }
        if (Current.IsOp("("))
        {
            var (args, kwargs) = ParseArgs();
            return new FilterCall(full, args, kwargs, name.Line, name.Column);
        }
        return new FilterCall(full, [], [], name.Line, name.Column);
    }

    private Expr ParseFilterExpr(Expr node)
    {
        while (true)
        {
            var t = Current;
            if (t.IsOp("|"))
            {
                _pos++;
                node = new FilterExpr(node, ParseFilterCall(), t.Line, t.Column);
            }
            else if (t.IsName("is"))
            {
                _pos++;
                node = ParseTest(node, t);
            }
            else if (t.IsOp("("))
            {
                node = ParseCall(node);
            }
            else return node;
        }
    }

    private Expr ParseTest(Expr node, Token at)
    {
        bool negated = false;
        if (Current.IsName("not"))
        {
            _pos++;
            negated = true;
        }
        var name = Expect(TokenKind.Name);
        string full = name.Text;
        while (Current.IsOp(".") && Peek().Kind == TokenKind.Name)
        {
            _pos++;
            full += "." + Next().Text;
        }
        var args = new List<Expr>();
        var t = Current;
        if (t.IsOp("("))
        {
            var (a, kw) = ParseArgs();
            if (kw.Count > 0) throw Error("keyword arguments to tests are not supported", t);
            args = a;
        }
        else if ((t.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float || t.IsOp("[") || t.IsOp("{"))
                 && !(t.Kind == TokenKind.Name && t.Text is "else" or "or" or "and"))
        {
            if (t.IsName("is")) throw Error("you cannot chain multiple tests with 'is'", t);
            args.Add(ParsePostfix(ParsePrimary()));
        }
        return new TestExpr(node, full, args, negated, at.Line, at.Column);
    }
}
