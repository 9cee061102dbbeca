"""What ``BCD.fit`` records at each iteration."""

from dataclasses import dataclass, field


@dataclass
class History:
    """Per-iteration record of a training run; every list has one entry per iteration.

    ``objective[k]`` is the dict of Φ's terms after iteration ``iteration[k]``;
    ``train_accuracy`` and ``validation_accuracy`` hold None where not measured (regression
    targets, no validation set, or an iteration skipped by ``eval_every``); ``seconds`` is the
    wall time of the iteration's BCD step alone.
    """

    iteration: list = field(default_factory=list)
    objective: list = field(default_factory=list)
    train_accuracy: list = field(default_factory=list)
    validation_accuracy: list = field(default_factory=list)
    seconds: list = field(default_factory=list)

    def append(self, iteration, objective, train_accuracy, validation_accuracy, seconds):
        """Record one iteration."""
        self.iteration.append(iteration)
        self.objective.append(objective)
        self.train_accuracy.append(train_accuracy)
        self.validation_accuracy.append(validation_accuracy)
        self.seconds.append(seconds)

    def __len__(self):
        return len(self.iteration)

    def rows(self):
        """One flat dict per iteration (objective terms prefixed ``objective_``)."""
        for k in range(len(self)):
            row = {"iteration": self.iteration[k]}
            row.update({f"objective_{name}": value for name, value in self.objective[k].items()})
            row["train_accuracy"] = self.train_accuracy[k]
            row["validation_accuracy"] = self.validation_accuracy[k]
            row["seconds"] = self.seconds[k]
            yield row
