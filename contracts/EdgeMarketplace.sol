// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

/// @title EdgeMarketplace
/// @notice Escrowed bounties for compute tasks: solvers commit to an agent, reveal it after
/// commits close, evaluators re-score it on a seed sealed from a future blockhash, and the best
/// verified solution scoring at least max(minScore, 1) is paid. A commit's bond is held until
/// its solution is verified or the task finalizes: back to the solver when verified above 0,
/// to the attesting evaluators when verified at 0, to the creator when never revealed, and back
/// to the solver (reclaimBonds) when revealed but never verified. Pull payments only; no owner,
/// no admin key, no upgrade path.
contract EdgeMarketplace {
    uint32 public constant MAX_SCORE = 1_000_000;
    uint256 public constant MAX_AGENT_BYTES = 24_576;
    uint256 public constant MAX_EVALUATORS = 5;
    uint256 public constant MAX_COMMITS_PER_SOLVER = 16;
    uint64 public constant MIN_EVAL_WINDOW = 60;
    /// @notice Most attestations one attestScores call takes (bounds its gas).
    uint256 public constant MAX_ATTEST_BATCH = 64;
    /// @dev blockhash() only sees the 256 most recent blocks.
    uint256 private constant BLOCKHASH_HORIZON = 256;

    enum State {
        None,
        Open,
        Finalized,
        Cancelled
    }

    struct Task {
        address creator;
        uint64 commitDeadline;
        uint32 minScore;
        uint64 revealDeadline;
        uint64 evalWindow;
        uint8 quorum;
        State state;
        bool seedSealed;
        bool hasBest;
        uint32 bestScore;
        uint32 bestAgentSize;
        uint256 bounty;
        uint256 commitBond;
        uint256 evaluatorFee;
        bytes32 specDigest;
        uint256 seedBlock;
        bytes32 saltXor;
        bytes32 evalSeed;
        uint256 solutionCount;
        uint256 revealedCount;
        /// @dev Bonds still held: of commitments not (yet) revealed, and of revealed solutions not
        /// (yet) verified. At finalize the unrevealed ones go to the creator; what is left is
        /// owed to solvers of never-verified solutions (reclaimBonds).
        uint256 heldBonds;
        uint256 bestSolutionId;
        address[] evaluators;
    }

    struct Solution {
        address solver;
        uint32 claimedScore;
        uint32 agentSize;
        uint32 score;
        bool revealed;
        bool verified;
        bytes32 commitment;
        bytes32 agentDigest;
    }

    event TaskCreated(
        uint256 indexed taskId,
        address indexed creator,
        bytes32 specDigest,
        uint256 bounty,
        uint64 commitDeadline,
        uint64 revealDeadline,
        uint64 evalWindow,
        address[] evaluators,
        uint8 quorum,
        uint32 minScore,
        uint256 commitBond,
        uint256 evaluatorFee
    );
    event SolutionCommitted(
        uint256 indexed taskId, uint256 indexed solutionId, address indexed solver, bytes32 commitment
    );
    event SolutionRevealed(
        uint256 indexed taskId,
        uint256 indexed solutionId,
        address indexed solver,
        bytes32 agentDigest,
        uint32 claimedScore,
        bytes agent
    );
    event SeedRequested(uint256 indexed taskId, uint256 seedBlock);
    event EvaluationSeedSet(uint256 indexed taskId, bytes32 evalSeed);
    event ScoreAttested(
        uint256 indexed taskId, uint256 indexed solutionId, address indexed evaluator, uint32 score
    );
    event SolutionVerified(uint256 indexed taskId, uint256 indexed solutionId, uint32 score, bool best);
    event TaskFinalized(uint256 indexed taskId, address winner, uint256 solutionId, uint32 score, uint256 payout);
    event TaskCancelled(uint256 indexed taskId, uint256 refund);
    /// @notice An evaluator's fee, credited at finalize for attesting every revealed solution.
    event FeeCredited(uint256 indexed taskId, address indexed evaluator, uint256 amount);
    /// @notice A solution verified at score 0 lost its bond to the evaluators that verified it.
    event BondForfeited(uint256 indexed taskId, uint256 indexed solutionId, address indexed solver, uint256 amount);
    /// @notice One verifying evaluator's share of a forfeited bond.
    event ForfeitShareCredited(
        uint256 indexed taskId, uint256 indexed solutionId, address indexed evaluator, uint256 amount
    );
    /// @notice Bonds credited back to a solver: at verification above 0, or by reclaimBonds.
    event BondReturned(uint256 indexed taskId, address indexed solver, uint256 amount);
    /// @notice What finalize credits the creator: unrevealed bonds, unearned fees, and the
    /// bounty when nobody won.
    event RefundCredited(uint256 indexed taskId, address indexed creator, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);

    error UnknownTask(uint256 taskId);
    error UnknownSolution(uint256 taskId, uint256 solutionId);
    error TaskNotOpen(uint256 taskId);
    error ZeroBounty();
    error InsufficientValue(uint256 required, uint256 sent);
    error BadDeadlines(uint64 commitDeadline, uint64 revealDeadline);
    error EvalWindowTooShort(uint64 evalWindow);
    error BadEvaluatorCount(uint256 count);
    error ZeroEvaluator();
    error DuplicateEvaluator(address evaluator);
    error CreatorIsEvaluator(address creator);
    error QuorumNotMajority(uint8 quorum, uint256 evaluators);
    error ScoreOutOfRange(uint256 score);
    error CommitPhaseOver(uint256 taskId);
    error WrongBond(uint256 required, uint256 sent);
    error TooManyCommits(uint256 taskId, address solver);
    error NotRevealPhase(uint256 taskId);
    error NotSolver(uint256 taskId, uint256 solutionId, address caller);
    error AlreadyRevealed(uint256 taskId, uint256 solutionId);
    error AgentTooLarge(uint256 size);
    error CommitmentMismatch(uint256 taskId, uint256 solutionId);
    error RevealNotOver(uint256 taskId);
    error SeedAlreadyRequested(uint256 taskId, uint256 seedBlock);
    error SeedNotRequested(uint256 taskId);
    error SeedBlockNotMined(uint256 taskId, uint256 seedBlock);
    error SeedBlockExpired(uint256 taskId, uint256 seedBlock);
    error SeedAlreadySealed(uint256 taskId);
    error SeedNotSealed(uint256 taskId);
    error EvaluationClosed(uint256 taskId);
    error NotEvaluator(uint256 taskId, address caller);
    error NotRevealed(uint256 taskId, uint256 solutionId);
    error AlreadyAttested(uint256 taskId, uint256 solutionId, address evaluator);
    error TooEarlyToFinalize(uint256 taskId, uint256 finalizableAt);
    error NotCreator(uint256 taskId, address caller);
    error HasCommits(uint256 taskId);
    error NothingToWithdraw(address account);
    error TransferFailed(address account, uint256 amount);
    error BadBatchSize(uint256 size);
    error BatchLengthMismatch(uint256 ids, uint256 scores);
    error TaskNotFinalized(uint256 taskId);
    error NoBondsHeld(uint256 taskId, address solver);

    uint256 public taskCount;
    /// @notice Open escrows + held bonds + unwithdrawn credits: ether received minus ether paid.
    uint256 public totalOwed;
    mapping(address account => uint256) public credits;

    mapping(uint256 taskId => Task) private _tasks;
    mapping(uint256 taskId => mapping(uint256 solutionId => Solution)) private _solutions;
    mapping(uint256 taskId => mapping(address solver => uint256)) public commitCount;
    /// @dev score + 1, so that 0 means "not attested".
    mapping(uint256 taskId => mapping(uint256 solutionId => mapping(address evaluator => uint256))) private
        _attested;
    mapping(uint256 taskId => mapping(address evaluator => uint256)) public attestationCount;
    /// @notice Bonds held for a solver's revealed solutions that are not (yet) verified.
    mapping(uint256 taskId => mapping(address solver => uint256)) public unverifiedBonds;

    // ---------------------------------------------------------------- requester

    function createTask(
        bytes32 specDigest,
        uint64 commitDeadline,
        uint64 revealDeadline,
        uint64 evalWindow,
        address[] calldata evaluators,
        uint8 quorum,
        uint32 minScore,
        uint256 commitBond,
        uint256 evaluatorFee
    ) external payable returns (uint256 taskId) {
        if (commitDeadline <= block.timestamp || revealDeadline <= commitDeadline) {
            revert BadDeadlines(commitDeadline, revealDeadline);
        }
        if (evalWindow < MIN_EVAL_WINDOW) revert EvalWindowTooShort(evalWindow);
        uint256 n = evaluators.length;
        if (n == 0 || n > MAX_EVALUATORS) revert BadEvaluatorCount(n);
        if (quorum == 0 || quorum > n || 2 * uint256(quorum) <= n) revert QuorumNotMajority(quorum, n);
        if (minScore > MAX_SCORE) revert ScoreOutOfRange(minScore);
        for (uint256 i = 0; i < n; ++i) {
            address e = evaluators[i];
            if (e == address(0)) revert ZeroEvaluator();
            if (e == msg.sender) revert CreatorIsEvaluator(e);
            for (uint256 j = 0; j < i; ++j) {
                if (evaluators[j] == e) revert DuplicateEvaluator(e);
            }
        }
        uint256 fees = evaluatorFee * n;
        if (msg.value < fees) revert InsufficientValue(fees, msg.value);
        uint256 bounty = msg.value - fees;
        if (bounty == 0) revert ZeroBounty();

        taskId = ++taskCount;
        Task storage t = _tasks[taskId];
        t.creator = msg.sender;
        t.commitDeadline = commitDeadline;
        t.minScore = minScore;
        t.revealDeadline = revealDeadline;
        t.evalWindow = evalWindow;
        t.quorum = quorum;
        t.state = State.Open;
        t.bounty = bounty;
        t.commitBond = commitBond;
        t.evaluatorFee = evaluatorFee;
        t.specDigest = specDigest;
        t.evaluators = evaluators;
        totalOwed += msg.value;

        _emitTaskCreated(taskId, t);
    }

    /// @notice The creator takes everything back, only while nobody has committed.
    function cancelTask(uint256 taskId) external {
        Task storage t = _openTask(taskId);
        if (msg.sender != t.creator) revert NotCreator(taskId, msg.sender);
        if (t.solutionCount != 0) revert HasCommits(taskId);
        uint256 refund = t.bounty + t.evaluatorFee * t.evaluators.length;
        t.state = State.Cancelled;
        credits[t.creator] += refund;
        emit TaskCancelled(taskId, refund);
    }

    // ---------------------------------------------------------------- solver

    /// @notice commitment = keccak256(abi.encode(block.chainid, address(this), taskId, solver,
    /// sha256(agent), claimedScore, salt)); the solver's address in it is what stops copying.
    function commitSolution(uint256 taskId, bytes32 commitment) external payable returns (uint256 solutionId) {
        Task storage t = _openTask(taskId);
        if (block.timestamp >= t.commitDeadline) revert CommitPhaseOver(taskId);
        if (msg.value != t.commitBond) revert WrongBond(t.commitBond, msg.value);
        uint256 made = commitCount[taskId][msg.sender];
        if (made >= MAX_COMMITS_PER_SOLVER) revert TooManyCommits(taskId, msg.sender);

        commitCount[taskId][msg.sender] = made + 1;
        solutionId = t.solutionCount++;
        Solution storage s = _solutions[taskId][solutionId];
        s.solver = msg.sender;
        s.commitment = commitment;
        t.heldBonds += msg.value;
        totalOwed += msg.value;
        emit SolutionCommitted(taskId, solutionId, msg.sender, commitment);
    }

    function revealSolution(uint256 taskId, uint256 solutionId, bytes calldata agent, uint32 claimedScore, bytes32 salt)
        external
    {
        Task storage t = _openTask(taskId);
        if (block.timestamp < t.commitDeadline || block.timestamp >= t.revealDeadline) {
            revert NotRevealPhase(taskId);
        }
        Solution storage s = _solution(taskId, t, solutionId);
        if (s.solver != msg.sender) revert NotSolver(taskId, solutionId, msg.sender);
        if (s.revealed) revert AlreadyRevealed(taskId, solutionId);
        if (agent.length > MAX_AGENT_BYTES) revert AgentTooLarge(agent.length);
        if (claimedScore > MAX_SCORE) revert ScoreOutOfRange(claimedScore);
        bytes32 agentDigest = sha256(agent);
        bytes32 expected =
            keccak256(abi.encode(block.chainid, address(this), taskId, msg.sender, agentDigest, claimedScore, salt));
        if (expected != s.commitment) revert CommitmentMismatch(taskId, solutionId);

        s.revealed = true;
        s.agentDigest = agentDigest;
        s.agentSize = uint32(agent.length);
        s.claimedScore = claimedScore;
        t.revealedCount += 1;
        t.saltXor ^= salt;
        unverifiedBonds[taskId][msg.sender] += t.commitBond;
        emit SolutionRevealed(taskId, solutionId, msg.sender, agentDigest, claimedScore, agent);
    }

    // ---------------------------------------------------------------- evaluation seed

    /// @notice Records the next block as the seed block; again only once the recorded block's
    /// hash has aged out of blockhash()'s window.
    function requestSeed(uint256 taskId) external returns (uint256 seedBlock) {
        Task storage t = _openTask(taskId);
        if (block.timestamp < t.revealDeadline) revert RevealNotOver(taskId);
        if (t.seedSealed) revert SeedAlreadySealed(taskId);
        uint256 recorded = t.seedBlock;
        if (recorded != 0 && block.number <= recorded + BLOCKHASH_HORIZON) {
            revert SeedAlreadyRequested(taskId, recorded);
        }
        seedBlock = block.number + 1;
        t.seedBlock = seedBlock;
        emit SeedRequested(taskId, seedBlock);
    }

    /// @notice evalSeed = keccak256(abi.encode(blockhash(seedBlock), taskId, XOR of revealed salts)).
    function sealSeed(uint256 taskId) external returns (bytes32 evalSeed) {
        Task storage t = _openTask(taskId);
        if (t.seedSealed) revert SeedAlreadySealed(taskId);
        uint256 seedBlock = t.seedBlock;
        if (seedBlock == 0) revert SeedNotRequested(taskId);
        if (block.number <= seedBlock) revert SeedBlockNotMined(taskId, seedBlock);
        bytes32 hash = blockhash(seedBlock);
        if (hash == bytes32(0)) revert SeedBlockExpired(taskId, seedBlock);
        evalSeed = keccak256(abi.encode(hash, taskId, t.saltXor));
        t.evalSeed = evalSeed;
        t.seedSealed = true;
        emit EvaluationSeedSet(taskId, evalSeed);
    }

    // ---------------------------------------------------------------- evaluator

    function attestScore(uint256 taskId, uint256 solutionId, uint32 score) external {
        Task storage t = _attestableTask(taskId);
        _attest(taskId, t, solutionId, score);
    }

    /// @notice attestScore for each (ids[i], scores[i]) in order, all or nothing: one failing
    /// entry reverts the batch with that entry's error.
    function attestScores(uint256 taskId, uint256[] calldata ids, uint32[] calldata scores) external {
        uint256 n = ids.length;
        if (n == 0 || n > MAX_ATTEST_BATCH) revert BadBatchSize(n);
        if (scores.length != n) revert BatchLengthMismatch(n, scores.length);
        Task storage t = _attestableTask(taskId);
        for (uint256 i = 0; i < n; ++i) {
            _attest(taskId, t, ids[i], scores[i]);
        }
    }

    // ---------------------------------------------------------------- settlement

    /// @notice O(1) in the number of solutions: the best is tracked as attestations arrive.
    function finalize(uint256 taskId) external {
        Task storage t = _openTask(taskId);
        uint256 closesAt = uint256(t.revealDeadline) + t.evalWindow;
        if (block.timestamp < closesAt) revert TooEarlyToFinalize(taskId, closesAt);

        t.state = State.Finalized;
        address creator = t.creator;
        uint256 revealed = t.revealedCount;
        // Unrevealed commits forfeit their bonds to the creator; the rest of heldBonds stays
        // for the solvers of revealed, never-verified solutions to reclaim.
        uint256 toCreator = (t.solutionCount - revealed) * t.commitBond;
        t.heldBonds -= toCreator;
        uint256 fee = t.evaluatorFee;
        uint256 n = t.evaluators.length;
        for (uint256 i = 0; i < n; ++i) {
            address e = t.evaluators[i];
            if (attestationCount[taskId][e] == revealed) {
                credits[e] += fee;
                if (fee != 0) emit FeeCredited(taskId, e, fee);
            } else {
                toCreator += fee;
            }
        }
        address winner = address(0);
        uint256 solutionId = type(uint256).max;
        uint32 score = 0;
        // Only scores >= 1 are ever best (see _attest), so this is score >= max(minScore, 1).
        if (t.hasBest && t.bestScore >= t.minScore) {
            solutionId = t.bestSolutionId;
            winner = _solutions[taskId][solutionId].solver;
            score = t.bestScore;
            credits[winner] += t.bounty;
        } else {
            toCreator += t.bounty;
        }
        credits[creator] += toCreator;
        if (toCreator != 0) emit RefundCredited(taskId, creator, toCreator);
        emit TaskFinalized(taskId, winner, solutionId, score, t.bounty);
    }

    /// @notice After finalize, credits `solver` the bonds of its revealed solutions that were
    /// never verified (not the solver's fault). Anyone may call it; the credit goes to the solver.
    function reclaimBonds(uint256 taskId, address solver) external {
        Task storage t = _tasks[taskId];
        if (t.state == State.None) revert UnknownTask(taskId);
        if (t.state != State.Finalized) revert TaskNotFinalized(taskId);
        uint256 amount = unverifiedBonds[taskId][solver];
        if (amount == 0) revert NoBondsHeld(taskId, solver);
        unverifiedBonds[taskId][solver] = 0;
        t.heldBonds -= amount;
        credits[solver] += amount;
        emit BondReturned(taskId, solver, amount);
    }

    /// @notice Pays the caller's credits. The credit is zeroed before the transfer.
    function withdraw() external {
        uint256 amount = credits[msg.sender];
        if (amount == 0) revert NothingToWithdraw(msg.sender);
        credits[msg.sender] = 0;
        totalOwed -= amount;
        emit Withdrawn(msg.sender, amount);
        (bool ok,) = payable(msg.sender).call{value: amount}("");
        if (!ok) revert TransferFailed(msg.sender, amount);
    }

    // ---------------------------------------------------------------- views

    function getTask(uint256 taskId) external view returns (Task memory) {
        if (_tasks[taskId].state == State.None) revert UnknownTask(taskId);
        return _tasks[taskId];
    }

    function getSolution(uint256 taskId, uint256 solutionId) external view returns (Solution memory) {
        Task storage t = _tasks[taskId];
        if (t.state == State.None) revert UnknownTask(taskId);
        return _solution(taskId, t, solutionId);
    }

    function solutionCount(uint256 taskId) external view returns (uint256) {
        return _tasks[taskId].solutionCount;
    }

    function hasAttested(uint256 taskId, uint256 solutionId, address evaluator) external view returns (bool) {
        return _attested[taskId][solutionId][evaluator] != 0;
    }

    /// @return attested whether `evaluator` attested the solution; score the score it gave.
    function attestation(uint256 taskId, uint256 solutionId, address evaluator)
        external
        view
        returns (bool attested, uint32 score)
    {
        uint256 mark = _attested[taskId][solutionId][evaluator];
        if (mark == 0) return (false, 0);
        return (true, uint32(mark - 1));
    }

    /// @notice Ether held for a task: while open its escrow plus every held bond; once finalized
    /// the bonds of never-verified solutions not yet reclaimed.
    function escrowOf(uint256 taskId) external view returns (uint256) {
        Task storage t = _tasks[taskId];
        if (t.state != State.Open) return t.heldBonds;
        return t.bounty + t.evaluatorFee * t.evaluators.length + t.heldBonds;
    }

    // ---------------------------------------------------------------- internals

    /// @dev Emitted from storage in its own frame: the calldata arguments would not fit the stack.
    function _emitTaskCreated(uint256 taskId, Task storage t) private {
        emit TaskCreated(
            taskId,
            t.creator,
            t.specDigest,
            t.bounty,
            t.commitDeadline,
            t.revealDeadline,
            t.evalWindow,
            t.evaluators,
            t.quorum,
            t.minScore,
            t.commitBond,
            t.evaluatorFee
        );
    }

    function _attestableTask(uint256 taskId) private view returns (Task storage t) {
        t = _openTask(taskId);
        if (!t.seedSealed) revert SeedNotSealed(taskId);
        if (block.timestamp >= uint256(t.revealDeadline) + t.evalWindow) revert EvaluationClosed(taskId);
        if (!_isEvaluator(t, msg.sender)) revert NotEvaluator(taskId, msg.sender);
    }

    /// @dev One attestation by msg.sender on an attestable task. The attestation that brings a
    /// score to quorum verifies the solution and settles its bond: back to the solver above 0;
    /// at 0 split evenly among the quorum that agreed, the remainder (< quorum wei) to msg.sender,
    /// whose transaction pays for the settlement.
    function _attest(uint256 taskId, Task storage t, uint256 solutionId, uint32 score) private {
        Solution storage s = _solution(taskId, t, solutionId);
        if (!s.revealed) revert NotRevealed(taskId, solutionId);
        mapping(address => uint256) storage given = _attested[taskId][solutionId];
        if (given[msg.sender] != 0) revert AlreadyAttested(taskId, solutionId, msg.sender);
        if (score > MAX_SCORE) revert ScoreOutOfRange(score);

        uint256 mark = uint256(score) + 1;
        given[msg.sender] = mark;
        attestationCount[taskId][msg.sender] += 1;
        emit ScoreAttested(taskId, solutionId, msg.sender, score);

        uint256 agreeing = 0;
        uint256 n = t.evaluators.length;
        for (uint256 i = 0; i < n; ++i) {
            if (given[t.evaluators[i]] == mark) ++agreeing;
        }
        // A strict majority can agree on one score only, and only once reaches exactly quorum.
        if (agreeing != t.quorum) return;
        s.verified = true;
        s.score = score;
        // A score of 0 is never best: it can neither win nor displace a real solution.
        bool best = score != 0 && (!t.hasBest || _beats(score, s.agentSize, solutionId, t));
        if (best) {
            t.hasBest = true;
            t.bestScore = score;
            t.bestAgentSize = s.agentSize;
            t.bestSolutionId = solutionId;
        }
        emit SolutionVerified(taskId, solutionId, score, best);
        _settleBond(taskId, t, solutionId, s.solver, score, mark, given);
    }

    function _settleBond(
        uint256 taskId,
        Task storage t,
        uint256 solutionId,
        address solver,
        uint32 score,
        uint256 mark,
        mapping(address => uint256) storage given
    ) private {
        uint256 bond = t.commitBond;
        unverifiedBonds[taskId][solver] -= bond;
        t.heldBonds -= bond;
        if (bond == 0) return;
        if (score != 0) {
            credits[solver] += bond;
            emit BondReturned(taskId, solver, bond);
            return;
        }
        emit BondForfeited(taskId, solutionId, solver, bond);
        uint256 q = t.quorum;
        uint256 share = bond / q;
        uint256 n = t.evaluators.length;
        for (uint256 i = 0; i < n; ++i) {
            address e = t.evaluators[i];
            if (given[e] != mark) continue;
            uint256 amount = e == msg.sender ? bond - share * (q - 1) : share;
            if (amount == 0) continue;
            credits[e] += amount;
            emit ForfeitShareCredited(taskId, solutionId, e, amount);
        }
    }

    function _openTask(uint256 taskId) private view returns (Task storage t) {
        t = _tasks[taskId];
        if (t.state == State.None) revert UnknownTask(taskId);
        if (t.state != State.Open) revert TaskNotOpen(taskId);
    }

    function _solution(uint256 taskId, Task storage t, uint256 solutionId) private view returns (Solution storage) {
        if (solutionId >= t.solutionCount) revert UnknownSolution(taskId, solutionId);
        return _solutions[taskId][solutionId];
    }

    function _isEvaluator(Task storage t, address who) private view returns (bool) {
        uint256 n = t.evaluators.length;
        for (uint256 i = 0; i < n; ++i) {
            if (t.evaluators[i] == who) return true;
        }
        return false;
    }

    /// @dev Higher score wins, then the smaller agent, then the lower solution id.
    function _beats(uint32 score, uint32 agentSize, uint256 solutionId, Task storage t) private view returns (bool) {
        if (score != t.bestScore) return score > t.bestScore;
        if (agentSize != t.bestAgentSize) return agentSize < t.bestAgentSize;
        return solutionId < t.bestSolutionId;
    }
}
