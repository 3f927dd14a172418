// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.28;

interface IEdgeMarketplace {
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
    ) external payable returns (uint256);
    function commitSolution(uint256 taskId, bytes32 commitment) external payable returns (uint256);
    function revealSolution(uint256 taskId, uint256 solutionId, bytes calldata agent, uint32 claimedScore, bytes32 salt)
        external;
    function finalize(uint256 taskId) external;
    function cancelTask(uint256 taskId) external;
    function withdraw() external;
}

/// @notice Test only: a solver (and creator) whose receive() re-enters withdraw, finalize and
/// cancelTask, swallowing failures so that its own withdrawal still completes.
contract ReentrantSolver {
    IEdgeMarketplace public immutable market;
    uint256 public finalizeTarget;
    uint256 public cancelTarget;
    uint256 public reentrySuccesses;
    uint256 public reentryFailures;
    bool private inside;

    constructor(IEdgeMarketplace market_) {
        market = market_;
    }

    function setTargets(uint256 finalizeTarget_, uint256 cancelTarget_) external {
        finalizeTarget = finalizeTarget_;
        cancelTarget = cancelTarget_;
    }

    function create(
        bytes32 specDigest,
        uint64 commitDeadline,
        uint64 revealDeadline,
        address[] calldata evaluators,
        uint256 evaluatorFee
    ) external payable returns (uint256) {
        return market.createTask{value: msg.value}(
            specDigest, commitDeadline, revealDeadline, 60, evaluators, uint8(evaluators.length / 2 + 1), 0, 0, evaluatorFee
        );
    }

    function commit(uint256 taskId, bytes32 commitment) external payable {
        market.commitSolution{value: msg.value}(taskId, commitment);
    }

    function reveal(uint256 taskId, uint256 solutionId, bytes calldata agent, uint32 claimedScore, bytes32 salt)
        external
    {
        market.revealSolution(taskId, solutionId, agent, claimedScore, salt);
    }

    function withdraw() external {
        market.withdraw();
    }

    receive() external payable {
        if (inside) return;
        inside = true;
        _try(abi.encodeCall(IEdgeMarketplace.withdraw, ()));
        _try(abi.encodeCall(IEdgeMarketplace.finalize, (finalizeTarget)));
        _try(abi.encodeCall(IEdgeMarketplace.cancelTask, (cancelTarget)));
        _try(abi.encodeCall(IEdgeMarketplace.withdraw, ()));
        inside = false;
    }

    function _try(bytes memory data) private {
        (bool ok,) = address(market).call(data);
        if (ok) ++reentrySuccesses;
        else ++reentryFailures;
    }
}
